# deploy area: Dockerfile, Kubernetes manifests (kustomize), KEDA, Kafka topics.
# Renders every overlay, validates against tests/deploy/k8s-schemas, runs the
# policy checks, the config check, the Dockerfile checks and yamllint.
ls_add_pytest(deploy_manifests tests/deploy/test_manifests.py
  LABELS integration TIMEOUT 120)
