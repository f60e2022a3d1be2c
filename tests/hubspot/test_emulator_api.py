#!/usr/bin/python3
"""Table-driven API test for hubspot-emulator.

Each row sends one documented request and compares status, the common
headers (content type, correlation id, rate-limit headers) and the body
shape with docs/hubspot-emulator.md, including every error body the
reference documents. Rows run in order; `save` keeps ids for later rows.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hs_emu import ANY, Re, check_common, check_shape, run_suite  # noqa: E402

PORTAL = 1000001
ISO = Re(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
MSG_401 = ("Authentication credentials not found. This API supports OAuth "
           "2.0 authentication and you can find more details at "
           "https://developers.hubspot.com/docs/methods/auth/oauth-overview")
MSG_403 = ("This app hasn't been granted all required scopes to make this "
           "call. Read more about required scopes here: "
           "https://developers.hubspot.com/scopes.")
MSG_NOT_FOUND = ("Could not get some CONTACT objects, they may be deleted or "
                 "not exist. Check that ids are valid.")


def prop_missing_msg(name):
    # HubSpot's record URL, with {HubId} = the portal id.
    inner = ('[{"isValid":false,"message":"Property \\"%s\\" does not exist",'
             '"error":"PROPERTY_DOESNT_EXIST","name":"%s",'
             '"localizedErrorMessage":"Property \\"%s\\" does not exist",'
             '"portalId":%d}]' % (name, name, name, PORTAL))
    return "Property values were not valid: " + inner


def err(category, message=ANY, **more):
    e = {"status": "error", "category": category, "message": message,
         "correlationId": Re(r"[0-9a-f-]{36}")}
    e.update(more)
    return e


def assoc(to_id, type_id):
    return {"to": {"id": to_id}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED",
         "associationTypeId": type_id}]}


NOW = "2026-01-15T10:00:00.000Z"
C = "/crm/v3/objects/contacts"
P = "/crm/v3/properties"

ROWS = [
    # --- auth --------------------------------------------------------------
    dict(name="401 without token", method="GET", path=C, token=None,
         status=401, keys={"status", "message", "correlationId", "category"},
         expect=err("INVALID_AUTHENTICATION", MSG_401),
         headers={"x-hubspot-auth-failure": "401 Unauthorized"}),
    dict(name="401 unknown token", method="GET", path=C, token="pat-na1-nope",
         status=401, expect=err("INVALID_AUTHENTICATION", MSG_401),
         headers={"x-hubspot-auth-failure": "401 Unauthorized"}),
    dict(name="403 missing write scope", method="POST", path=C,
         token="tok-readonly", body={"properties": {"email": "x@y.com"}},
         status=403,
         expect=dict(err("MISSING_SCOPES", MSG_403), **{
             "errors.0.message":
                 "One or more of the following scopes are required.",
             "errors.0.context.requiredGranularScopes":
                 ["crm.objects.contacts.write"],
             "links.scopes": "https://developers.hubspot.com/scopes"})),
    dict(name="read scope is enough to read", method="GET", path=C,
         token="tok-readonly", status=200, expect={"results": []}),

    # --- properties --------------------------------------------------------
    dict(name="default contact properties", method="GET", path=P + "/contacts",
         status=200, expect={"results": lambda rs: {
             "email", "firstname", "lastname", "company", "phone", "website",
             "jobtitle", "city", "state", "country", "lifecyclestage",
             "createdate", "lastmodifieddate", "hs_object_id",
             "hs_lead_status", "notes_last_updated"} <= {
             r["name"] for r in rs}}),
    dict(name="get property", method="GET", path=P + "/contacts/email",
         status=200, expect={"name": "email", "type": "string",
                             "fieldType": "text", "hubspotDefined": True}),
    dict(name="get missing property", method="GET",
         path=P + "/contacts/nope", status=404,
         expect=err("OBJECT_NOT_FOUND")),
    dict(name="create group", method="POST", path=P + "/contacts/groups",
         body={"name": "smartlead", "label": "Smartlead"}, status=201,
         expect={"name": "smartlead", "label": "Smartlead",
                 "displayOrder": int, "archived": False}),
    dict(name="duplicate group", method="POST", path=P + "/contacts/groups",
         body={"name": "smartlead", "label": "Smartlead"}, status=409,
         expect=err(ANY)),
    dict(name="list groups", method="GET", path=P + "/contacts/groups",
         status=200, expect={"results": lambda rs: "smartlead" in {
             r["name"] for r in rs}}),
    dict(name="create property", method="POST", path=P + "/contacts",
         body={"name": "smartlead_lead_category", "label": "Lead category",
               "type": "string", "fieldType": "text",
               "groupName": "smartlead"},
         status=201, expect={"name": "smartlead_lead_category",
                             "groupName": "smartlead", "type": "string",
                             "hasUniqueValue": False,
                             "hubspotDefined": False}),
    dict(name="duplicate property", method="POST", path=P + "/contacts",
         body={"name": "smartlead_lead_category", "label": "x",
               "type": "string", "fieldType": "text",
               "groupName": "smartlead"}, status=409,
         expect=err(Re("CONFLICT|OBJECT_ALREADY_EXISTS"))),
    dict(name="property without label", method="POST", path=P + "/contacts",
         body={"name": "p2", "type": "string", "fieldType": "text",
               "groupName": "smartlead"}, status=400,
         expect=err("VALIDATION_ERROR")),
    dict(name="property in unknown group", method="POST", path=P + "/contacts",
         body={"name": "p3", "label": "P3", "type": "string",
               "fieldType": "text", "groupName": "nogroup"}, status=400,
         expect=err("VALIDATION_ERROR")),
    dict(name="enumeration without options", method="POST",
         path=P + "/contacts",
         body={"name": "p4", "label": "P4", "type": "enumeration",
               "fieldType": "select", "groupName": "smartlead"}, status=400,
         expect=err("VALIDATION_ERROR")),
] + [
    dict(name="custom property on " + t, method="POST", path=P + "/" + t,
         body={"name": "leadsync_event_id", "label": "leadsync event id",
               "type": "string", "fieldType": "text", "groupName": g,
               "hasUniqueValue": True},
         status=201, expect={"name": "leadsync_event_id",
                             "hasUniqueValue": True})
    for t, g in (("emails", "emailinformation"), ("notes", "noteinformation"),
                 ("tasks", "taskinformation"))
] + [
    # --- contacts ----------------------------------------------------------
    dict(name="unknown property -> 400", method="POST", path=C,
         body={"properties": {"email": "t@example.com",
                              "testproperty": "x"}}, status=400,
         keys={"status", "message", "correlationId", "errors", "category"},
         expect=dict(err("VALIDATION_ERROR", prop_missing_msg("testproperty")),
                     **{"errors.0.message":
                        'Property "testproperty" does not exist',
                        "errors.0.code": "PROPERTY_DOESNT_EXIST",
                        "errors.0.context.propertyName": ["testproperty"]})),
    dict(name="create contact", method="POST", path=C,
         body={"properties": {"email": "Lead.One@Example.com",
                              "firstname": "Lead",
                              "smartlead_lead_category": "Interested",
                              "lifecyclestage": "lead"},
               "associations": []},
         status=201, save={"cid": "id"},
         expect={"id": Re(r"\d+"), "properties.email": "Lead.One@Example.com",
                 "properties.hs_object_id": Re(r"\d+"),
                 "properties.createdate": ISO,
                 "properties.lastmodifieddate": ISO, "createdAt": ISO,
                 "updatedAt": ISO, "archived": False}),
    dict(name="duplicate email (case-insensitive) -> 409", method="POST",
         path=C, body={"properties": {"email": "lead.one@example.COM"}},
         status=409, keys={"status", "message", "correlationId", "category"},
         expect=err("CONFLICT", "Contact already exists. Existing ID: {cid}")),
    dict(name="values are stored as strings", method="POST", path=C,
         body={"properties": {"email": "num@example.com", "phone": 12345,
                              "hs_email_optout": True}},
         status=201, save={"numid": "id"},
         expect={"properties.phone": "12345",
                 "properties.hs_email_optout": "true"}),
    dict(name="invalid enumeration option", method="POST", path=C,
         body={"properties": {"email": "o@example.com",
                              "lifecyclestage": "bogus"}}, status=400,
         expect=dict(err("VALIDATION_ERROR",
                         Re(r"Property values were not valid: .*")),
                     **{"errors.0.code": "INVALID_OPTION"})),
    dict(name="invalid email", method="POST", path=C,
         body={"properties": {"email": "not-an-email"}}, status=400,
         expect={"errors.0.code": "INVALID_EMAIL",
                 "category": "VALIDATION_ERROR"}),
    dict(name="get by id: default properties", method="GET", path=C + "/{cid}",
         status=200,
         expect={"id": "{cid}", "properties": lambda p: set(p) == {
             "createdate", "email", "firstname", "hs_object_id",
             "lastmodifieddate", "lastname"},
             "properties.firstname": "Lead", "properties.lastname": None}),
    dict(name="get with properties=", method="GET",
         path=C + "/{cid}?properties=email,smartlead_lead_category",
         status=200,
         expect={"properties.smartlead_lead_category": "Interested",
                 "properties.email": "Lead.One@Example.com"}),
    dict(name="get by email (idProperty)", method="GET",
         path=C + "/LEAD.ONE@example.com?idProperty=email", status=200,
         expect={"id": "{cid}"}),
    dict(name="get missing id -> 404", method="GET", path=C + "/999999",
         status=404, expect=err("OBJECT_NOT_FOUND")),
    dict(name="patch", method="PATCH", path=C + "/{cid}",
         body={"properties": {"jobtitle": "CTO"}}, status=200,
         expect={"properties.jobtitle": "CTO", "id": "{cid}"}),
    dict(name="patch by email", method="PATCH",
         path=C + "/lead.one@example.com?idProperty=email",
         body={"properties": {"company": "Acme"}}, status=200,
         expect={"properties.company": "Acme"}),
    dict(name="patch unknown property", method="PATCH", path=C + "/{cid}",
         body={"properties": {"nope": "1"}}, status=400,
         expect=dict(err("VALIDATION_ERROR", prop_missing_msg("nope")))),
    dict(name="patch email onto another contact -> 409", method="PATCH",
         path=C + "/{cid}", body={"properties": {"email": "NUM@example.com"}},
         status=409,
         expect=err("CONFLICT", "Contact already exists. Existing ID: {numid}")),
    dict(name="patch read-only property", method="PATCH", path=C + "/{cid}",
         body={"properties": {"hs_object_id": "5"}}, status=400,
         expect={"category": "VALIDATION_ERROR"}),

    # --- batches ----------------------------------------------------------
    dict(name="batch/create", method="POST", path=C + "/batch/create",
         body={"inputs": [{"properties": {"email": "b1@example.com"}},
                          {"properties": {"email": "b2@example.com"}}]},
         status=201,
         expect={"status": "COMPLETE", "results": lambda r: len(r) == 2,
                 "startedAt": ISO, "completedAt": ISO}),
    dict(name="batch/create with an existing email fails whole batch",
         method="POST", path=C + "/batch/create",
         body={"inputs": [{"properties": {"email": "fresh@example.com"}},
                          {"properties": {"email": "LEAD.one@example.com"}}]},
         status=409,
         expect=err("CONFLICT", "Contact already exists. Existing ID: {cid}"),
         after=lambda st: not any(
             c["properties"].get("email") == "fresh@example.com"
             for c in st["contacts"])),
    dict(name="batch/create 101 inputs -> 400", method="POST",
         path=C + "/batch/create",
         body={"inputs": [{"properties": {"email": "m%d@example.com" % i}}
                          for i in range(101)]},
         status=400, expect=err("VALIDATION_ERROR")),
    dict(name="batch/create with objectWriteTraceId -> 207", method="POST",
         path=C + "/batch/create",
         body={"inputs": [
             {"properties": {"email": "t1@example.com"},
              "objectWriteTraceId": "t1"},
             {"properties": {"email": "t2@example.com", "bad": "x"},
              "objectWriteTraceId": "t2"},
             {"properties": {"email": "lead.one@example.com"},
              "objectWriteTraceId": "t3"}]},
         status=207,
         expect={"status": "COMPLETE", "numErrors": 2,
                 "results": lambda r: len(r) == 1,
                 "errors.0.category": "VALIDATION_ERROR",
                 "errors.0.message": Re("Property values were not valid: .*"),
                 "errors.0.context.objectWriteTraceId": ["t2"],
                 "errors.1.category": "CONFLICT",
                 "errors.1.context.objectWriteTraceId": ["t3"]}),
    dict(name="batch/read by email with missing ids -> 207", method="POST",
         path=C + "/batch/read",
         body={"idProperty": "email", "properties": ["email"],
               "propertiesWithHistory": [],
               "inputs": [{"id": "LEAD.ONE@example.com"},
                          {"id": "raj+3@valmi.io"}, {"id": "raj+2@valmi.io"}]},
         status=207,
         expect={"status": "COMPLETE", "results.0.id": "{cid}",
                 "results": lambda r: len(r) == 1, "numErrors": 1,
                 "errors.0.status": "error",
                 "errors.0.category": "OBJECT_NOT_FOUND",
                 "errors.0.message": MSG_NOT_FOUND,
                 "errors.0.context.ids": ["raj+3@valmi.io", "raj+2@valmi.io"],
                 "startedAt": ISO, "completedAt": ISO}),
    dict(name="batch/read by id", method="POST", path=C + "/batch/read",
         body={"properties": ["jobtitle"], "inputs": [{"id": "{cid}"}]},
         status=200, expect={"results.0.properties.jobtitle": "CTO"}),
    dict(name="batch/update by id", method="POST", path=C + "/batch/update",
         body={"inputs": [{"id": "{cid}", "properties": {"city": "Berlin"}}]},
         status=200, expect={"status": "COMPLETE",
                             "results.0.properties.city": "Berlin"}),
    dict(name="batch/update by email -> non-unique error", method="POST",
         path=C + "/batch/update",
         body={"inputs": [{"id": "lead.one@example.com", "idProperty": "email",
                           "properties": {"city": "Paris"}}]},
         status=400,
         expect=err("VALIDATION_ERROR", Re(
             r"Unable to perform update/upsert by non-unique 0-1 property"
             r".*"))),
    dict(name="batch/update unknown id -> 207", method="POST",
         path=C + "/batch/update",
         body={"inputs": [{"id": "424242", "properties": {"city": "x"}}]},
         status=207, expect={"errors.0.category": "OBJECT_NOT_FOUND",
                             "errors.0.context.ids": ["424242"]}),
    dict(name="batch/upsert by email", method="POST", path=C + "/batch/upsert",
         body={"inputs": [
             {"id": "LEAD.ONE@EXAMPLE.COM", "idProperty": "email",
              "properties": {"phone": "+18884827768"}},
             {"id": "new.one@example.com", "idProperty": "email",
              "properties": {"phone": "+18888888888"}}]},
         status=200, save={"upid": "results.1.id"},
         expect={"status": "COMPLETE", "results.0.id": "{cid}",
                 "results.0.new": False,
                 "results.0.properties.phone": "+18884827768",
                 "results.0.properties.email": "Lead.One@Example.com",
                 "results.1.new": True,
                 "results.1.properties.email": "new.one@example.com",
                 "startedAt": ISO, "completedAt": ISO}),
    dict(name="batch/upsert duplicate ids -> 400", method="POST",
         path=C + "/batch/upsert",
         body={"inputs": [
             {"id": "dup@example.com", "idProperty": "email",
              "properties": {}},
             {"id": "DUP@example.com", "idProperty": "email",
              "properties": {}}]},
         status=400, expect=err("VALIDATION_ERROR", Re("Duplicate IDs.*"))),
    dict(name="batch/upsert 101 inputs -> 400", method="POST",
         path=C + "/batch/upsert",
         body={"inputs": [{"id": "u%d@example.com" % i, "idProperty": "email",
                           "properties": {}} for i in range(101)]},
         status=400, expect=err("VALIDATION_ERROR")),
    dict(name="batch/upsert unknown property -> 400", method="POST",
         path=C + "/batch/upsert",
         body={"inputs": [{"id": "z@example.com", "idProperty": "email",
                           "properties": {"testproperty": "1"}}]},
         status=400,
         expect=err("VALIDATION_ERROR", prop_missing_msg("testproperty"))),
    dict(name="batch/upsert without idProperty -> 400", method="POST",
         path=C + "/batch/upsert",
         body={"inputs": [{"id": "z@example.com", "properties": {}}]},
         status=400, expect=err("VALIDATION_ERROR")),

    # --- engagements -------------------------------------------------------
    dict(name="note without hs_timestamp", method="POST",
         path="/crm/v3/objects/notes",
         body={"properties": {"hs_note_body": "x"}}, status=400,
         keys={"status", "message", "correlationId", "context", "category"},
         expect=err("VALIDATION_ERROR",
                    "Error creating NOTE. Some required properties were not "
                    "set.", **{"context.properties": ["hs_timestamp"]})),
    dict(name="email without direction", method="POST",
         path="/crm/v3/objects/emails",
         body={"properties": {"hs_timestamp": NOW}}, status=400,
         expect=err("VALIDATION_ERROR",
                    "Error creating EMAIL. Some required properties were not "
                    "set.", **{"context.properties": ["hs_email_direction"]})),
    dict(name="task without hs_timestamp", method="POST",
         path="/crm/v3/objects/tasks",
         body={"properties": {"hs_task_subject": "Call"}}, status=400,
         expect={"message": "Error creating TASK. Some required properties "
                            "were not set."}),
    dict(name="note -> contact (202)", method="POST",
         path="/crm/v3/objects/notes",
         body={"properties": {"hs_timestamp": NOW,
                              "hs_note_body": "Smartlead: reply"},
               "associations": [assoc("{cid}", 202)]},
         status=201, save={"nid": "id"},
         expect={"properties.hs_note_body": "Smartlead: reply",
                 "properties.hs_object_id": Re(r"\d+")}),
    dict(name="email -> contact (198)", method="POST",
         path="/crm/v3/objects/emails",
         body={"properties": {"hs_timestamp": "1768471200000",
                              "hs_email_direction": "EMAIL",
                              "hs_email_status": "SENT",
                              "hs_email_subject": "Hi",
                              "leadsync_event_id": "evt-1"},
               "associations": [assoc("{cid}", 198)]},
         status=201, save={"eid": "id"},
         expect={"properties.leadsync_event_id": "evt-1"}),
    dict(name="task -> contact (204)", method="POST",
         path="/crm/v3/objects/tasks",
         body={"properties": {"hs_timestamp": NOW, "hs_task_subject": "Call",
                              "hs_task_status": "NOT_STARTED",
                              "hs_task_type": "CALL"},
               "associations": [assoc("{cid}", 204)]},
         status=201, save={"tid": "id"}, expect={"id": Re(r"\d+")}),
    dict(name="association to a missing contact -> 400", method="POST",
         path="/crm/v3/objects/notes",
         body={"properties": {"hs_timestamp": NOW},
               "associations": [assoc("999999", 202)]},
         status=400, expect=err("VALIDATION_ERROR")),
    dict(name="wrong association type for notes -> 400", method="POST",
         path="/crm/v3/objects/notes",
         body={"properties": {"hs_timestamp": NOW},
               "associations": [assoc("{cid}", 198)]},
         status=400, expect=err("VALIDATION_ERROR")),
    dict(name="invalid task status", method="POST",
         path="/crm/v3/objects/tasks",
         body={"properties": {"hs_timestamp": NOW, "hs_task_status": "OPEN"}},
         status=400, expect={"errors.0.code": "INVALID_OPTION"}),
    dict(name="emails batch/create", method="POST",
         path="/crm/v3/objects/emails/batch/create",
         body={"inputs": [
             {"properties": {"hs_timestamp": NOW,
                             "hs_email_direction": "INCOMING_EMAIL"},
              "associations": [assoc("{cid}", 198)]},
             {"properties": {"hs_timestamp": NOW,
                             "hs_email_direction": "EMAIL"},
              "associations": [assoc("{cid}", 198)]}]},
         status=201, expect={"results": lambda r: len(r) == 2}),
    dict(name="notes batch/create traced -> 207", method="POST",
         path="/crm/v3/objects/notes/batch/create",
         body={"inputs": [
             {"properties": {"hs_timestamp": NOW},
              "associations": [assoc("{cid}", 202)],
              "objectWriteTraceId": "n1"},
             {"properties": {"hs_note_body": "no timestamp"},
              "associations": [assoc("{cid}", 202)],
              "objectWriteTraceId": "n2"}]},
         status=207,
         expect={"numErrors": 1, "results": lambda r: len(r) == 1,
                 "errors.0.category": "VALIDATION_ERROR",
                 "errors.0.context.objectWriteTraceId": ["n2"]}),
    dict(name="unique custom property -> 409", method="POST",
         path="/crm/v3/objects/emails",
         body={"properties": {"hs_timestamp": NOW,
                              "hs_email_direction": "EMAIL",
                              "leadsync_event_id": "evt-1"}},
         status=409, expect=err("CONFLICT", Re(r".*Existing ID: {eid}"))),
    dict(name="get note", method="GET", path="/crm/v3/objects/notes/{nid}",
         status=200, expect={"id": "{nid}",
                             "properties.hs_createdate": ISO}),
    dict(name="v4 contact -> notes", method="GET",
         path="/crm/v4/objects/contacts/{cid}/associations/notes",
         status=200,
         expect={"results": lambda r: len(r) == 2,
                 "results.0.toObjectId": "{nid:int}",
                 "results.0.associationTypes.0": {
                     "category": "HUBSPOT_DEFINED", "typeId": 201,
                     "label": None}}),
    dict(name="v4 contact -> emails", method="GET",
         path="/crm/v4/objects/contacts/{cid}/associations/emails",
         status=200,
         expect={"results": lambda r: len(r) == 3,
                 "results.0.associationTypes.0.typeId": 197}),
    dict(name="v4 contact -> tasks", method="GET",
         path="/crm/v4/objects/contacts/{cid}/associations/tasks", status=200,
         expect={"results.0.toObjectId": "{tid:int}",
                 "results.0.associationTypes.0.typeId": 203}),
    dict(name="v4 note -> contacts", method="GET",
         path="/crm/v4/objects/notes/{nid}/associations/contacts", status=200,
         expect={"results.0.toObjectId": "{cid:int}",
                 "results.0.associationTypes.0.typeId": 202}),

    # --- search ------------------------------------------------------------
    dict(name="search EQ is case-insensitive", method="POST",
         path=C + "/search", search=True,
         body={"filterGroups": [{"filters": [
             {"propertyName": "email", "operator": "EQ",
              "value": "LEAD.ONE@EXAMPLE.COM"}]}]},
         status=200,
         expect={"total": 1, "results.0.id": "{cid}",
                 "results.0.properties": lambda p: set(p) == {
                     "createdate", "email", "firstname", "hs_object_id",
                     "lastmodifieddate", "lastname"}}),
    dict(name="search IN with lowercase values", method="POST",
         path=C + "/search", search=True,
         body={"filterGroups": [{"filters": [
             {"propertyName": "email", "operator": "IN",
              "values": ["lead.one@example.com", "num@example.com"]}]}]},
         status=200, expect={"total": 2}),
    dict(name="search IN needs lowercase values", method="POST",
         path=C + "/search", search=True,
         body={"filterGroups": [{"filters": [
             {"propertyName": "email", "operator": "IN",
              "values": ["NUM@EXAMPLE.COM"]}]}]},
         status=200, expect={"total": 0, "results": []}),
    dict(name="search HAS_PROPERTY", method="POST", path=C + "/search",
         search=True,
         body={"filterGroups": [{"filters": [
             {"propertyName": "jobtitle", "operator": "HAS_PROPERTY"}]}],
             "properties": ["jobtitle"]},
         status=200, expect={"total": 1,
                             "results.0.properties.jobtitle": "CTO"}),
    dict(name="search OR of groups, sort, paging", method="POST",
         path=C + "/search", search=True,
         body={"filterGroups": [
             {"filters": [{"propertyName": "email", "operator": "EQ",
                           "value": "b1@example.com"}]},
             {"filters": [{"propertyName": "email", "operator": "EQ",
                           "value": "b2@example.com"}]},
             {"filters": [{"propertyName": "email", "operator": "EQ",
                           "value": "t1@example.com"}]}],
             "sorts": [{"propertyName": "email",
                        "direction": "DESCENDING"}],
             "limit": 2},
         status=200,
         expect={"total": 3, "results": lambda r: len(r) == 2,
                 "results.0.properties.email": "t1@example.com",
                 "results.1.properties.email": "b2@example.com",
                 "paging.next.after": "2"}),
    dict(name="search last page has no paging", method="POST",
         path=C + "/search", search=True,
         body={"filterGroups": [{"filters": [
             {"propertyName": "email", "operator": "CONTAINS_TOKEN",
              "value": "*@example.com"}]}],
             "limit": 200, "after": "0"},
         status=200, expect={"total": 6}, absent=["paging"]),
    dict(name="search limit > 200 -> 400", method="POST", path=C + "/search",
         search=True, body={"limit": 201}, status=400,
         expect=err("VALIDATION_ERROR")),
    dict(name="search two sorts -> 400", method="POST", path=C + "/search",
         search=True, body={"sorts": [
             {"propertyName": "email", "direction": "ASCENDING"},
             {"propertyName": "firstname", "direction": "ASCENDING"}]},
         status=400, expect=err("VALIDATION_ERROR")),
    dict(name="search body > 3000 chars -> 400", method="POST",
         path=C + "/search", search=True,
         body={"query": "x" * 3100}, status=400,
         expect=err("VALIDATION_ERROR")),
    dict(name="search 6 filter groups -> 400", method="POST",
         path=C + "/search", search=True,
         body={"filterGroups": [{"filters": [
             {"propertyName": "email", "operator": "HAS_PROPERTY"}]}] * 6},
         status=400, expect=err("VALIDATION_ERROR")),
    dict(name="search past 10,000 results -> 400", method="POST",
         path=C + "/search", search=True,
         body={"after": "9990", "limit": 20}, status=400,
         expect=err("VALIDATION_ERROR")),
    dict(name="search unknown property -> 400", method="POST",
         path=C + "/search", search=True,
         body={"filterGroups": [{"filters": [
             {"propertyName": "nope", "operator": "EQ", "value": "1"}]}]},
         status=400, expect=err("VALIDATION_ERROR")),
    dict(name="search emails by custom property", method="POST",
         path="/crm/v3/objects/emails/search", search=True,
         body={"filterGroups": [{"filters": [
             {"propertyName": "leadsync_event_id", "operator": "EQ",
              "value": "evt-1"}]}],
             "properties": ["leadsync_event_id"]},
         status=200, expect={"total": 1, "results.0.id": "{eid}",
                             "results.0.properties.leadsync_event_id":
                                 "evt-1"}),

    # --- transport ---------------------------------------------------------
    dict(name="malformed JSON -> 400", method="POST", path=C,
         raw=b'{"properties": {', status=400,
         expect=err("VALIDATION_ERROR", Re(r"Invalid input JSON on line .*"))),
    dict(name="body over 4 MiB -> 413", method="POST", path=C,
         raw=b"x" * (5 * 1024 * 1024), status=413, expect=err(ANY),
         no_rl=True),
    dict(name="unknown route -> 404", method="GET", path="/crm/v3/nothing",
         status=404, expect=err(ANY)),
]


def subst(v, saved):
    """Fill {name} and {name:int} from saved ids, inside any structure."""
    if isinstance(v, str):
        for k, val in saved.items():
            if v == "{%s:int}" % k:
                return int(val)
            v = v.replace("{%s}" % k, str(val))
        return v
    if isinstance(v, Re):
        return Re(subst(v.rx.pattern, saved))
    if isinstance(v, dict):
        return {k: subst(x, saved) for k, x in v.items()}
    if isinstance(v, list):
        return [subst(x, saved) for x in v]
    return v


class SearchPacer:
    """Keeps searches under HubSpot's 5 per second, as a client must."""

    def __init__(self):
        self.sent = []

    def wait(self):
        if len(self.sent) >= 5:
            delay = self.sent[-5] + 1.05 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self.sent.append(time.monotonic())


PACER = SearchPacer()


def run_rows(ck, emu):
    saved = {}
    for row in ROWS:
        name = row["name"]
        if row.get("search"):
            PACER.wait()
        r = emu.request(row["method"], subst(row["path"], saved),
                        body=subst(row.get("body"), saved),
                        token=row.get("token", "pat-na1-dev-token"),
                        raw=row.get("raw"))
        if not ck.eq(name + ": status", row["status"], r.status):
            print("  body:", r.raw[:1500])
            continue
        check_common(ck, name, r,
                     search=row.get("search", False) or row.get("no_rl"))
        if r.json is None:
            ck.check(name + ": JSON body", False, "JSON", r.raw[:300])
            continue
        check_shape(ck, name, subst(row.get("expect", {}), saved), r.json)
        if "keys" in row:
            ck.eq(name + ": top-level keys", row["keys"], set(r.json))
        for path in row.get("absent", []):
            ck.check(name + ": %s absent" % path, path not in r.json,
                     "absent", r.json.get(path))
        for h, want in row.get("headers", {}).items():
            ck.eq(name + ": header " + h, want, r.h(h))
        for var, path in row.get("save", {}).items():
            cur = r.json
            for part in path.split("."):
                cur = cur[int(part)] if isinstance(cur, list) else cur[part]
            saved[var] = cur
        if "after" in row:
            ck.check(name + ": state afterwards", row["after"](emu.state()),
                     "predicate true", "false")
    return saved


def check_state(ck, emu, saved):
    st = emu.state()
    for key in ("contacts", "emails", "notes", "tasks", "associations",
                "counters", "portals"):
        ck.check("state has " + key, key in st, key, sorted(st))
    c = next((c for c in st["contacts"] if c["id"] == saved["cid"]), None)
    ck.check("state: contact present", c is not None, saved["cid"], None)
    if c:
        ck.eq("state: contact email", "Lead.One@Example.com",
              c["properties"]["email"])
    ck.eq("state: note/contact association", True, any(
        a["from_type"] == "notes" and a["from_id"] == saved["nid"]
        and a["to_id"] == saved["cid"] and a["type_id"] == 202
        for a in st["associations"]))
    by_route = st["counters"]["by_route"]
    ck.eq("counters: contact creates 201",
          2, by_route.get("POST /crm/v3/objects/contacts", {}).get("201"))
    ck.eq("counters: upsert 200", 1, by_route.get(
        "POST /crm/v3/objects/contacts/batch/upsert", {}).get("200"))
    total = sum(n for st_ in by_route.values() for n in st_.values())
    ck.eq("counters: requests_total = sum(by_route)",
          st["counters"]["requests_total"], total)
    ck.eq("counters: nothing rate limited", 0,
          st["counters"]["rate_limited_429"])


def check_index_lag(ck, emu):
    """A record is searchable only search_lag_ms after its write. Every
    search answered before the lag ran from before the write (t0) must miss
    it (sound however slow the machine is); the search then polls until
    the record is found, which cannot be before the lag."""
    lag = 2.0
    emu.admin("POST", "/_emulator/config", {"search_lag_ms": int(lag * 1000)})
    t0 = time.monotonic()
    r = emu.request("POST", C, {"properties": {"email": "lag@example.com"}})
    ck.eq("lag: create", 201, r.status)
    body = {"filterGroups": [{"filters": [
        {"propertyName": "email", "operator": "EQ",
         "value": "lag@example.com"}]}]}
    early = []  # totals of the searches answered before the lag
    found_at = None
    while time.monotonic() - t0 < lag + 15:
        PACER.wait()
        r = emu.request("POST", C + "/search", body)
        at = time.monotonic() - t0
        total = r.json and r.json.get("total") if r.status == 200 else None
        if at < lag:
            early.append(total)
        if total == 1:
            found_at = at
            break
        time.sleep(0.05)  # polling for the index
    ck.check("lag: not found before the lag", early and
             all(t == 0 for t in early), "0 each", early)
    ck.check("lag: found after the lag", found_at is not None and
             found_at >= lag - 0.01, f">= {lag} s", found_at)
    emu.admin("POST", "/_emulator/config", {"search_lag_ms": 0})


def check_reset(ck, emu):
    emu.admin("POST", "/_emulator/reset")
    st = emu.state()
    ck.eq("reset: no contacts", [], st["contacts"])
    ck.eq("reset: no associations", [], st["associations"])
    ck.eq("reset: counters zero", 0, st["counters"]["requests_total"])
    r = emu.request("GET", P + "/contacts/smartlead_lead_category")
    ck.eq("reset: custom property gone", 404, r.status)
    r = emu.request("GET", P + "/contacts/email")
    ck.eq("reset: default property kept", 200, r.status)
    r = emu.request("GET", C, token="tok-readonly")
    ck.eq("reset: tokens kept", 200, r.status)


def rows_and_state(ck, emu):
    saved = run_rows(ck, emu)
    if {"cid", "nid"} <= set(saved):
        check_state(ck, emu, saved)


def main():
    run_suite("hubspot_emulator_api", {"portals": [
        {"token": "pat-na1-dev-token", "portal_id": PORTAL,
         "tier": "professional"},
        {"token": "tok-readonly", "portal_id": 2002, "tier": "free",
         "scopes": ["crm.objects.contacts.read"]}]},
        rows_and_state, check_index_lag, check_reset)


if __name__ == "__main__":
    main()
