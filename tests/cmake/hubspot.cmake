# dev/hubspot: hubspot-emulator's own tests (docs/hubspot-emulator.md).
# Script paths are relative to the repository root. The whole suite runs in
# about 15 s; the rate-limit test waits out one 10-second window on purpose.
ls_add_pytest(hubspot_emulator_api tests/hubspot/test_emulator_api.py
  LABELS integration TIMEOUT 120)
ls_add_pytest(hubspot_emulator_ratelimit tests/hubspot/test_emulator_ratelimit.py
  LABELS integration TIMEOUT 120)
ls_add_pytest(hubspot_emulator_concurrency tests/hubspot/test_emulator_concurrency.py
  LABELS integration TIMEOUT 120)
ls_add_pytest(hubspot_emulator_faults tests/hubspot/test_emulator_faults.py
  LABELS integration TIMEOUT 120)
