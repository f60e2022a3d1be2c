/* emu_variation.c: behaviours of the real HubSpot API that a client must
 * survive and that an emulator sharing the client's assumptions would
 * hide: portal time zones (account-info, daily reset), secondary emails,
 * shuffled batch results, object DELETE. Each is cited in
 * docs/hubspot-emulator.md. Callers hold emu->mu. */
#include "emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* -- time zones ----------------------------------------------------------- */

int64_t emu_portal_day(const struct emu_portal *p, int64_t wall_ms) {
  int64_t local = wall_ms + p->utc_offset_ms;
  return local >= 0 ? local / 86400000 : (local - 86399999) / 86400000;
}

int emu_seconds_to_local_midnight(const struct emu_portal *p) {
  int64_t local = emu_wall_ms() + p->utc_offset_ms;
  int64_t into = ((local % 86400000) + 86400000) % 86400000;
  return (int)((86400000 - into + 999) / 1000);
}

/* The current UTC offset of an IANA zone, through the C library's zone
 * files: TZ is switched and restored under the emulator's lock (the
 * emulator formats times with gmtime_r only, which TZ does not affect). */
bool emu_tz_offset(const char *tz, int64_t *offset_ms) {
  if (!tz || !*tz || strlen(tz) > 60 || strchr(tz, ' '))
    return false;
  if (!strcmp(tz, "UTC") || !strcmp(tz, "Etc/UTC")) {
    *offset_ms = 0;
    return true;
  }
  char path[128];
  snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
  FILE *f = strstr(tz, "..") ? NULL : fopen(path, "rb");
  if (!f)
    return false;
  fclose(f);
  const char *old = getenv("TZ");
  char *saved = old ? emu_strdup(old) : NULL;
  setenv("TZ", tz, 1);
  tzset();
  time_t now = time(NULL);
  struct tm lt;
  localtime_r(&now, &lt);
  *offset_ms = (int64_t)lt.tm_gmtoff * 1000;
  if (saved) {
    setenv("TZ", saved, 1);
    free(saved);
  } else {
    unsetenv("TZ");
  }
  tzset();
  return true;
}

void emu_h_account_info(struct emu_call *c) {
  struct emu_portal *p = c->p;
  int64_t off = p->utc_offset_ms;
  int64_t a = off < 0 ? -off : off;
  char utc[16];
  snprintf(utc, sizeof utc, "%c%02d:%02d", off < 0 ? '-' : '+',
           (int)(a / 3600000), (int)(a / 60000 % 60));
  emu_reply(c, 200,
            json_pack("{s:I, s:s, s:s, s:s, s:[], s:s, s:s, s:s, s:I}",
                      "portalId", (json_int_t)p->portal_id, "accountType",
                      "STANDARD", "timeZone",
                      p->time_zone[0] ? p->time_zone : "UTC", "companyCurrency",
                      "USD", "additionalCurrencies", "dataHostingLocation",
                      "na1", "uiDomain", "app.hubspot.com", "utcOffset", utc,
                      "utcOffsetMilliseconds", (json_int_t)off));
}

/* -- secondary emails ------------------------------------------------------ */

struct emu_obj *emu_contact_by_any_email(struct emu_portal *p,
                                         const char *email) {
  struct emu_obj *o = emu_contact_by_email(p, email);
  if (o || !p->secondary)
    return o;
  char *key = emu_lower(email);
  const char *id =
      key ? json_string_value(json_object_get(p->secondary, key)) : NULL;
  free(key);
  return id ? emu_obj_get(p, EMU_CONTACTS, id) : NULL;
}

/* POST /_emulator/secondary_email {email, secondary, portal?}: the contact
 * with primary `email` also answers to `secondary` (what HubSpot does after
 * a merge or when a user adds an address): an upsert or read by the
 * secondary resolves to it, and echoes the primary. */
void emu_h_admin_secondary(struct emu_call *c) {
  const char *prim = json_string_value(json_object_get(c->in, "email"));
  const char *sec = json_string_value(json_object_get(c->in, "secondary"));
  json_t *sel = json_object_get(c->in, "portal");
  struct emu_portal *p = NULL;
  if (json_is_integer(sel))
    p = emu_portal_find(c->emu, (uint64_t)json_integer_value(sel));
  else if (c->emu->n_portals)
    p = c->emu->portals[0];
  struct emu_obj *o = p && prim ? emu_contact_by_email(p, prim) : NULL;
  if (!o || !sec || !*sec) {
    emu_reply(c, 400,
              emu_err_body(c, "VALIDATION_ERROR",
                           "want {email: an existing contact's primary "
                           "email, secondary, portal?}",
                           NULL));
    return;
  }
  if (!p->secondary)
    p->secondary = json_object();
  char *key = emu_lower(sec);
  char id[24];
  snprintf(id, sizeof id, "%llu", (unsigned long long)o->id);
  json_object_set_new(p->secondary, key, json_string(id));
  free(key);
  emu_reply(c, 200, json_pack("{s:s, s:s}", "status", "ok", "id", id));
}

/* -- shuffled results ------------------------------------------------------ */

void emu_shuffle(json_t *arr) {
  size_t n = json_array_size(arr);
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(emu_rand01() * (double)i);
    if (j >= i)
      j = i - 1;
    json_t *a = json_incref(json_array_get(arr, i - 1));
    json_t *b = json_incref(json_array_get(arr, j));
    json_array_set_new(arr, i - 1, b);
    json_array_set_new(arr, j, a);
  }
}

/* -- DELETE ---------------------------------------------------------------- */

static void table_reindex(struct emu_table *tab, bool contacts) {
  json_object_clear(tab->by_id);
  if (contacts)
    json_object_clear(tab->by_email);
  for (size_t i = 0; i < tab->n; i++) {
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)tab->v[i]->id);
    json_object_set_new(tab->by_id, id, json_integer((json_int_t)i));
    const char *em =
        contacts ? json_string_value(json_object_get(tab->v[i]->props, "email"))
                 : NULL;
    if (em && *em) {
      char *k = emu_lower(em);
      if (k)
        json_object_set_new(tab->by_email, k, json_integer((json_int_t)i));
      free(k);
    }
  }
}

/* DELETE /crm/v3/objects/{type}/{id}: 204, archived (HubSpot keeps it
 * restorable for 90 days; here it is gone), its associations with it. */
void emu_h_delete(struct emu_call *c) {
  struct emu_portal *p = c->p;
  struct emu_table *tab = &p->tables[c->otype];
  struct emu_obj *o = emu_obj_get(p, c->otype, c->seg[4]);
  if (!o) {
    /* HubSpot answers 204 for an id that is already gone as well. */
    emu_reply(c, 204, NULL);
    return;
  }
  size_t k = 0;
  while (k < tab->n && tab->v[k] != o)
    k++;
  memmove(&tab->v[k], &tab->v[k + 1], (tab->n - k - 1) * sizeof tab->v[0]);
  tab->n--;
  size_t keep = 0;
  for (size_t i = 0; i < p->n_assocs; i++) {
    const struct emu_assoc *a = &p->assocs[i];
    if ((a->from_type == c->otype && a->from_id == o->id) ||
        (a->to_type == c->otype && a->to_id == o->id))
      continue;
    p->assocs[keep++] = *a;
  }
  p->n_assocs = keep;
  if (c->otype == EMU_CONTACTS && p->secondary) {
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)o->id);
    const char *key;
    json_t *v, *tmp;
    json_object_foreach_safe(p->secondary, tmp, key, v) {
      if (!strcmp(json_string_value(v), id))
        json_object_del(p->secondary, key);
    }
  }
  json_decref(o->props);
  json_decref(o->idx_props);
  free(o);
  table_reindex(tab, c->otype == EMU_CONTACTS);
  emu_reply(c, 204, NULL);
}
