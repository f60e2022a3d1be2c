# Benchmarks (bench/, docs/bench.md): make bench is not a test and asserts
# nothing about speed. This smoke test runs it once with tiny sizes so it
# does not rot, and checks only that it ran and wrote well-formed JSON with
# every field (bench/results.schema.json).
ls_add_pytest(bench_smoke tests/bench/test_bench_smoke.py
  LABELS integration TIMEOUT 240)
