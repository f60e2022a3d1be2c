# End-to-end: HTTP -> ingress -> dev broker -> workers -> HubSpot emulator.
ls_add_pytest(e2e_samples tests/e2e/test_e2e.py LABELS e2e TIMEOUT 240)
