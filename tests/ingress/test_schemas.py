"""Schemas: every schemas/smartlead/*.schema.json is a valid 2020-12 schema
and accepts every shared sample of its type according to an independent
validator (python3-jsonschema); the C validator (lib/model/ls_schema.c, driven
through ls-schema-check) agrees with it on the samples and on a few hundred
mutations of them, and on the config schema with good and broken configs."""
import copy
import json
import os
import subprocess
import sys

import jsonschema

sys.path.insert(0, os.path.dirname(__file__))
from harness import BUILD, SOURCE, Checks, load_payloads  # noqa: E402

c = Checks("ingress_schemas")
SCHEMAS = os.path.join(SOURCE, "schemas")
TYPES = ["EMAIL_SENT", "FIRST_EMAIL_SENT", "EMAIL_OPEN", "EMAIL_LINK_CLICK",
         "EMAIL_REPLY", "EMAIL_BOUNCE", "LEAD_UNSUBSCRIBED",
         "LEAD_CATEGORY_UPDATED", "CAMPAIGN_STATUS_CHANGED",
         "UNTRACKED_REPLIES", "MANUAL_STEP_REACHED"]
LEAD_FIELDS = ["to_email", "sl_lead_email", "lead_email", "to",
               "leadCorrespondence", "lead_data", "sender_detail"]
GOOD_TIMES = ["2025-03-28T09:35:01+00:00", "2025-03-28T09:35:01Z",
              "2025-03-28T09:35:01.618881+00:00", "2025-03-28T09:35:01.5Z",
              "2025-03-28T08:20:58.023+00:00", "2025-03-28 09:35:01",
              "2025-03-28T09:35:01+0000", "2025-03-28T09:35", "2025-03-28",
              None]
BAD_TIMES = ["28/03/2025 09:35", "2025-3-28T09:35:01Z", "yesterday", "",
             "2025-03-28T09:35:01.1234567890Z", 1743154501]


def schema_path(t):
    return os.path.join(SCHEMAS, "smartlead", f"{t}.schema.json")


def mutations(body):
    """(label, instance) variants of one sample."""
    yield "original", body
    yield "unknown field", dict(body, brand_new_field={"x": [1]})
    for f in LEAD_FIELDS:
        if f in body:
            yield f"without {f}", {k: v for k, v in body.items() if k != f}
    yield "without any lead field", {k: v for k, v in body.items()
                                     if k not in LEAD_FIELDS}
    yield "other event_type", dict(body, event_type="EMAIL_SENT"
                                   if body["event_type"] != "EMAIL_SENT"
                                   else "EMAIL_OPEN")
    yield "no event_type", {k: v for k, v in body.items()
                            if k != "event_type"}
    for v in ["1234567", 1234567, 3375350255, "12x", -5, 1.5, 7.0, None,
              True, "", "123456789012345678901"]:
        yield f"campaign_id={v!r}", dict(body, campaign_id=v)
    for v in [3375350255, "3375350255", "abc", 18446744073709551615 // 4]:
        yield f"sl_email_lead_map_id={v!r}", dict(body,
                                                  sl_email_lead_map_id=v)
    for v in GOOD_TIMES + BAD_TIMES:
        yield f"event_timestamp={v!r}", dict(body, event_timestamp=v)
    for v in ["no-at-sign", " Jane.Doe@Example.com ", 5, None, "a@b@c",
              "x" * 250 + "@b.co"]:
        for f in ("to_email", "lead_email", "sl_lead_email"):
            if f in body:
                yield f"{f}={v!r}", dict(body, **{f: v})
    for v in ["Sam <sam@x.com>", "nobody", 7, ""]:
        yield f"sender_detail={v!r}", dict(body, sender_detail=v)
    if "lead_category" in body:
        yield "no category at all", {k: v for k, v in body.items()
                                     if k not in ("lead_category",
                                                  "lead_category_id",
                                                  "category")}
        yield "empty lead_category", dict(
            {k: v for k, v in body.items()
             if k not in ("lead_category_id", "category")}, lead_category={})
        yield "new_id as string", dict(body, lead_category=dict(
            body["lead_category"], new_id="2"))
    for v in [[], "EMAIL_SENT", None, 5]:
        yield f"body={v!r}", v


def config_mutations(cfg):
    yield "as is", cfg

    def m(label, fn):
        x = copy.deepcopy(cfg)
        fn(x)
        return label, x
    t0 = lambda x: x["tenants"][0]  # noqa: E731
    s0 = lambda x: x["tenants"][0]["sources"][0]  # noqa: E731
    yield m("level galaxy", lambda x: s0(x).update(level="galaxy"))
    yield m("client without scope", lambda x: s0(x).update(level="client"))
    yield m("client with scope", lambda x: s0(x).update(level="client",
                                                        scope_id="42"))
    yield m("campaign with int scope", lambda x: s0(x).update(
        level="campaign", scope_id=1234567))
    yield m("bad token hash", lambda x: s0(x).update(token_sha256="zz"))
    yield m("both secrets", lambda x: s0(x).update(
        secret_key_sha256="a" * 64, secret_key_env="SECRET"))
    yield m("secret env", lambda x: s0(x).update(secret_key_env="SECRET"))
    yield m("no tenants", lambda x: x.pop("tenants"))
    yield m("empty tenants", lambda x: x.update(tenants=[]))
    yield m("unknown root key", lambda x: x.update(kafkaa={}))
    yield m("unknown ingress key", lambda x: x["ingress"].update(bogus=1))
    yield m("string limit", lambda x: x["ingress"].update(
        max_body_bytes="2M"))
    yield m("worker extra", lambda x: x["worker"].update(groups={"a": 1}))
    yield m("sync extra", lambda x: t0(x)["sync"].update(EMAIL_REPLY={}))
    yield m("tier platinum", lambda x: t0(x)["hubspot"].update(
        tier="platinum"))
    yield m("contact_mode merge", lambda x: t0(x).update(
        contact_mode="merge"))
    yield m("filter ids", lambda x: t0(x).update(
        filter={"categories": [1, "Interested"]}))
    yield m("filter typo", lambda x: t0(x).update(
        filter={"categoires": ["Interested"]}))
    yield m("tenant id with colon", lambda x: t0(x).update(id="a:b"))
    yield m("rate as string", lambda x: s0(x).update(
        rate_limit={"per_second": "5"}))
    yield m("kafka props typed", lambda x: x["kafka"]["properties"].update(
        {"linger.ms": 5, "enable.idempotence": True}))
    yield m("kafka props object", lambda x: x["kafka"]["properties"].update(
        {"linger.ms": {"v": 5}}))


def main():
    payloads = load_payloads()
    c.true(len(payloads) >= 12, "shared samples found", len(payloads))
    validators = {}
    for t in TYPES:
        with open(schema_path(t)) as f:
            s = json.load(f)
        try:
            jsonschema.Draft202012Validator.check_schema(s)
            c.true(True, f"{t}: valid 2020-12 schema")
        except jsonschema.SchemaError as e:
            c.true(False, f"{t}: valid 2020-12 schema", e.message)
        c.eq(s.get("$schema"), "https://json-schema.org/draft/2020-12/schema",
             f"{t}: declares 2020-12")
        validators[t] = jsonschema.Draft202012Validator(s)

    # Every shared sample against its type's schema (python validator).
    for name, raw in sorted(payloads.items()):
        body = json.loads(raw)
        errs = list(validators[body["event_type"]].iter_errors(body))
        c.true(not errs, f"{name}: valid per python3-jsonschema",
               [e.message for e in errs][:2])

    # Differential: the C validator agrees with python on many variants.
    cases = []
    for name, raw in sorted(payloads.items()):
        body = json.loads(raw)
        t = body["event_type"]
        for label, inst in mutations(body):
            cases.append((f"{name}: {label}", schema_path(t), validators[t],
                          inst))
    cfgschema = os.path.join(SCHEMAS, "config.schema.json")
    with open(cfgschema) as f:
        cs = json.load(f)
    jsonschema.Draft202012Validator.check_schema(cs)
    cv = jsonschema.Draft202012Validator(cs)
    for cfgfile in ("config/dev.json", "deploy/k8s/base/config.json"):
        p = os.path.join(SOURCE, cfgfile)
        if not os.path.exists(p):
            continue
        with open(p) as f:
            cfg = json.load(f)
        c.true(cv.is_valid(cfg), f"{cfgfile} valid per python3-jsonschema",
               [e.message for e in cv.iter_errors(cfg)][:2])
        for label, inst in config_mutations(cfg):
            cases.append((f"{cfgfile}: {label}", cfgschema, cv, inst))

    req = "".join(json.dumps({"schema": p, "instance": inst}) + "\n"
                  for _, p, _, inst in cases)
    r = subprocess.run([os.path.join(BUILD, "ls-schema-check")], input=req,
                       capture_output=True, text=True, timeout=60)
    out = r.stdout.splitlines()
    c.eq(len(out), len(cases), "C validator answered every case")
    agree = valid = 0
    for (label, _, v, inst), line in zip(cases, out):
        py_ok = v.is_valid(inst)
        c_ok = line == "ok"
        valid += py_ok
        if c.true(py_ok == c_ok, f"C and python agree: {label}",
                  f"python={'ok' if py_ok else 'invalid'} C={line}"):
            agree += 1
    # ls-schema-check also validates each instance as the ingress does
    # (scanned once, only what the schema reads kept: ingress/ing_json.c).
    c.eq([ln for ln in out if ln.startswith("mismatch")][:3], [],
         "validating the ingress's projection gives the whole instance's "
         "verdict and message")
    print(f"differential: {agree}/{len(cases)} cases agree "
          f"({valid} valid, {len(cases) - valid} invalid)", flush=True)
    c.true(len(cases) - valid >= 50, "the mutations include many invalid "
           "instances", len(cases) - valid)
    c.done()


main()
