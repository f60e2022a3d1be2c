# Webhook assurance: the Smartlead emulator and the assurance role
# (docs/assurance.md, docs/smartlead-emulator.md).
ls_add_pytest(assurance_smartlead_emulator
  tests/assurance/test_smartlead_emulator.py LABELS integration TIMEOUT 120)
