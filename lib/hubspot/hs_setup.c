/* hs_setup: idempotent creation of the smartlead property group and the
 * custom properties of hs_map's catalogue. */
#include "hs_setup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_map.h"
#include "ls_log.h"

static const char *const objects[] = {"contacts", "emails", "notes", "tasks"};
#define N_OBJECTS (sizeof objects / sizeof objects[0])

static bool has_name(const json_t *list, const char *name) {
  size_t i;
  const json_t *it;
  json_array_foreach(json_object_get(list, "results"), i, it) {
    const char *n = json_string_value(json_object_get(it, "name"));
    if (n && !strcmp(n, name))
      return true;
  }
  return false;
}

static void fail_from(const hs_req *r, char *errstr, size_t errlen) {
  char d[600];
  hs_req_describe(r, d, sizeof d);
  snprintf(errstr, errlen, "hubspot setup: %s", d);
}

static bool ok_or_exists(const hs_req *r) {
  return r->state == HS_R_DONE && (r->cls == HS_C_OK || r->status == 409);
}

/* A final 4xx that no retry changes (HubSpot's own validation of the
 * definition, a portal limit on custom properties...). */
static bool refused_for_good(const hs_req *r) {
  return r->state == HS_R_DONE &&
         (r->cls == HS_C_VALIDATION || r->cls == HS_C_PERMANENT ||
          r->cls == HS_C_NOT_FOUND);
}

/* "POST /crm/v3/properties/contacts" + {"name":...} -> object, name. */
static void skip(hs_setup_result *res, const hs_target *tgt, const hs_req *r) {
  json_t *body = r->body ? json_loads(r->body, 0, NULL) : NULL;
  const char *name = json_string_value(json_object_get(body, "name"));
  const char *obj = strrchr(r->path, '/');
  bool group = !strcmp(r->route, "property_groups_create");
  char object[32];
  if (group) {
    /* ".../properties/{object}/groups" */
    const char *end = obj;
    const char *beg = end;
    while (beg > r->path && beg[-1] != '/')
      beg--;
    snprintf(object, sizeof object, "%.*s", (int)(end - beg), beg);
  } else {
    snprintf(object, sizeof object, "%s", obj ? obj + 1 : "?");
  }
  ls_error("HUBSPOT SETUP: property refused; the worker goes on without "
           "writing it",
           "{s:s,s:s,s:s,s:i,s:s,s:s}", "tenant", tgt->label ? tgt->label : "-",
           "object", object, group ? "group" : "property", name ? name : "?",
           "status", (int)r->status, "category", r->err.category, "message",
           r->err.message);
  if (!group && name) {
    if (!res->skipped)
      res->skipped = json_object();
    json_t *a = json_object_get(res->skipped, object);
    if (!a) {
      a = json_array();
      json_object_set_new(res->skipped, object, a);
    }
    json_array_append_new(a, json_string(name));
  }
  json_decref(body);
}

ls_err hs_setup_run(hs_transport *tp, const hs_target *tgt,
                    const hs_policy *pol, hs_setup_result *res, char *errstr,
                    size_t errlen) {
  ls_err e = LS_OK;
  size_t nprops;
  const hs_prop_def *defs = hs_map_properties(&nprops);
  hs_req *lists[N_OBJECTS] = {0};
  hs_req **creates = calloc(nprops + N_OBJECTS, sizeof *creates);
  size_t nc = 0;
  json_t *listed[N_OBJECTS] = {0};
  memset(res, 0, sizeof *res);
  if (!creates)
    return LS_ERR_NOMEM;

  /* 1. What exists already (one call per object type). */
  for (size_t o = 0; o < N_OBJECTS; o++) {
    char path[128];
    snprintf(path, sizeof path, "/crm/v3/properties/%s", objects[o]);
    lists[o] = hs_req_new(tgt, "GET", path, "properties_list", NULL);
    if (!lists[o]) {
      e = LS_ERR_NOMEM;
      goto out;
    }
  }
  hs_run(tp, lists, N_OBJECTS, pol);
  for (size_t o = 0; o < N_OBJECTS; o++) {
    res->calls += lists[o]->attempts;
    if (lists[o]->state != HS_R_DONE || lists[o]->cls != HS_C_OK) {
      fail_from(lists[o], errstr, errlen);
      e = lists[o]->cls == HS_C_AUTH ? LS_ERR_UNAUTHORIZED : LS_ERR_IO;
      goto out;
    }
    listed[o] = hs_req_json(lists[o]);
  }

  /* 2. The missing group (only where a property is missing) and
   * properties, all in one rate-limited run. */
  for (size_t o = 0; o < N_OBJECTS; o++) {
    bool missing = false;
    for (size_t i = 0; i < nprops; i++) {
      if (strcmp(defs[i].object, objects[o]))
        continue;
      if (has_name(listed[o], defs[i].name)) {
        res->existed++;
        continue;
      }
      if (!missing) {
        char path[128];
        snprintf(path, sizeof path, "/crm/v3/properties/%s/groups", objects[o]);
        json_t *g = json_pack("{s:s,s:s,s:i}", "name", HS_GROUP_NAME, "label",
                              HS_GROUP_LABEL, "displayOrder", -1);
        creates[nc] =
            hs_req_new(tgt, "POST", path, "property_groups_create", g);
        json_decref(g);
        if (!creates[nc++]) {
          e = LS_ERR_NOMEM;
          goto out;
        }
        missing = true;
      }
      char path[128];
      snprintf(path, sizeof path, "/crm/v3/properties/%s", objects[o]);
      json_t *p =
          json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "name", defs[i].name,
                    "label", defs[i].label, "type", defs[i].type, "fieldType",
                    defs[i].field_type, "groupName", HS_GROUP_NAME,
                    "description", defs[i].description, "formField", 0);
      creates[nc] = hs_req_new(tgt, "POST", path, "properties_create", p);
      json_decref(p);
      if (!creates[nc++]) {
        e = LS_ERR_NOMEM;
        goto out;
      }
    }
  }
  if (nc) {
    /* Groups first: a property needs its group. */
    size_t ng = 0;
    hs_req **groups = calloc(nc, sizeof *groups);
    hs_req **propsq = calloc(nc, sizeof *propsq);
    size_t np = 0;
    if (!groups || !propsq) {
      free(groups);
      free(propsq);
      e = LS_ERR_NOMEM;
      goto out;
    }
    for (size_t i = 0; i < nc; i++) {
      if (!strcmp(creates[i]->route, "property_groups_create"))
        groups[ng++] = creates[i];
      else
        propsq[np++] = creates[i];
    }
    hs_run(tp, groups, ng, pol);
    hs_run(tp, propsq, np, pol);
    free(groups);
    free(propsq);
    for (size_t i = 0; i < nc; i++) {
      hs_req *r = creates[i];
      res->calls += r->attempts;
      if (!ok_or_exists(r) && refused_for_good(r)) {
        skip(res, tgt, r);
        continue;
      }
      if (!ok_or_exists(r)) {
        if (e == LS_OK) {
          fail_from(r, errstr, errlen);
          e = r->cls == HS_C_AUTH ? LS_ERR_UNAUTHORIZED : LS_ERR_IO;
        }
        continue;
      }
      if (r->status == 409)
        res->conflicts++;
      else
        res->created++;
    }
  }
  if (e == LS_OK)
    ls_info("hubspot setup done", "{s:s,s:i,s:i,s:i,s:i}", "tenant",
            tgt->label ? tgt->label : "-", "existed", res->existed, "created",
            res->created, "conflicts", res->conflicts, "calls", res->calls);
out:
  for (size_t o = 0; o < N_OBJECTS; o++) {
    hs_req_free(lists[o]);
    json_decref(listed[o]);
  }
  for (size_t i = 0; i < nc; i++)
    hs_req_free(creates[i]);
  free(creates);
  return e;
}
