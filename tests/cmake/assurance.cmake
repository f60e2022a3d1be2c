# Webhook assurance: the Smartlead emulator and the assurance role
# (docs/assurance.md, docs/smartlead-emulator.md).
ls_add_pytest(assurance_smartlead_emulator
  tests/assurance/test_smartlead_emulator.py LABELS integration TIMEOUT 120)
ls_add_pytest(assurance_e2e tests/assurance/test_assurance_e2e.py
  LABELS integration slow TIMEOUT 400)
ls_add_pytest(assurance_faults tests/assurance/test_assurance_faults.py
  LABELS integration slow TIMEOUT 400)
