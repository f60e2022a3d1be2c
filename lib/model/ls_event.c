/* ls_event: Smartlead event routing, keys, lead identity and event ids. */
#include "ls_event.h"

#include <ctype.h>
#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wctype.h>

#include "ls_evid.h"
#include "ls_hash.h"
#include "ls_shape.h"
#include "ls_time.h"

static const struct {
  const char *name;
  const char *slug;
  bool has_lead;
} types[] = {
#define LS_EV_ROW(sfx, name, slug, lead) {name, slug, lead},
    LS_EVENT_TYPES(LS_EV_ROW)
#undef LS_EV_ROW
        {"UNKNOWN", "unknown", false},
};

ls_event_type ls_event_type_from_name(const char *name) {
  for (int i = 0; i < LS_EV_UNKNOWN; i++)
    if (!strcmp(types[i].name, name))
      return (ls_event_type)i;
  return LS_EV_UNKNOWN;
}

const char *ls_event_type_name(ls_event_type t) {
  return (t >= 0 && t < LS_EV__COUNT) ? types[t].name : "UNKNOWN";
}

bool ls_event_type_has_lead(ls_event_type t) {
  return (t >= 0 && t < LS_EV__COUNT) ? types[t].has_lead : false;
}

const char *ls_event_type_slug(ls_event_type t) {
  return (t >= 0 && t < LS_EV__COUNT) ? types[t].slug : "unknown";
}

/* Case folding of addresses: every letter, not only ASCII, so that
 * "JÜRGEN@x.de" and "jürgen@x.de" are one lead key. Simple (1:1) Unicode
 * lower-case mapping through the C.UTF-8 locale's towlower; where that
 * locale is missing, a table of the Latin-1, Latin Extended-A, Greek and
 * Cyrillic capitals. Bytes that are not valid UTF-8 are kept as they are. */
static locale_t utf8_loc;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_init(void) {
  utf8_loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static uint32_t fold_cp(uint32_t c) {
  if (c < 0x80)
    return (uint32_t)tolower((int)c);
  if (utf8_loc)
    return (uint32_t)towlower_l((wint_t)c, utf8_loc);
  if ((c >= 0xC0 && c <= 0xDE && c != 0xD7) ||
      (c >= 0x391 && c <= 0x3AB && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
    return c + 0x20;
  if (c >= 0x400 && c <= 0x40F)
    return c + 0x50;
  if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x138 && c != 0x149 &&
      c != 0x17F) {
    bool odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
    if (odd_upper ? (c & 1) : !(c & 1))
      return c + 1;
  }
  return c;
}

/* One UTF-8 sequence at s (n bytes left): its length, 0 when invalid. */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *cp) {
  size_t len = s[0] >= 0xF0 && s[0] <= 0xF4   ? 4
               : s[0] >= 0xE0                 ? 3
               : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
                                              : 0;
  if (!len || len > n)
    return 0;
  uint32_t c = s[0] & (0x7F >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) ||
      (len == 4 && (c < 0x10000 || c > 0x10FFFF)))
    return 0;
  *cp = c;
  return len;
}

void ls_normalize_email(const char *in, char *out, size_t outlen) {
  size_t n = strlen(in);
  while (n && isspace((unsigned char)in[n - 1]))
    n--;
  while (n && isspace((unsigned char)*in)) {
    in++;
    n--;
  }
  if (n >= outlen || n > LS_EMAIL_MAX) {
    /* Longer than any valid address: treat as no address at all. */
    out[0] = '\0';
    return;
  }
  pthread_once(&utf8_once, utf8_init);
  const unsigned char *s = (const unsigned char *)in;
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    uint32_t c = 0;
    size_t len = s[i] < 0x80 ? 1 : utf8_dec(s + i, n - i, &c);
    unsigned char enc[4];
    size_t elen;
    if (s[i] < 0x80) {
      enc[0] = (unsigned char)tolower(s[i]);
      elen = 1;
    } else if (!len) {
      enc[0] = s[i]; /* not UTF-8: kept */
      elen = len = 1;
    } else {
      elen = ls_utf8_encode(fold_cp(c), enc);
    }
    if (o + elen >= outlen) {
      out[0] = '\0'; /* folding grew it past the buffer: no address */
      return;
    }
    memcpy(out + o, enc, elen);
    o += elen;
    i += len;
  }
  out[o] = '\0';
}

/* The parts (NULL-terminated) one after the other, cut at cap like
 * snprintf (cap >= 1): the event's topic, type and key are built per
 * webhook, and snprintf's format parsing was most of identify's libc time. */
static void join(char *out, size_t cap, const char *const *parts) {
  size_t o = 0;
  for (; *parts; parts++) {
    size_t n = strlen(*parts);
    if (n > cap - 1 - o)
      n = cap - 1 - o;
    memcpy(out + o, *parts, n);
    o += n;
  }
  out[o] = '\0';
}

/* An integer as "%lld" writes it, cut at outlen like snprintf. */
static void put_int(json_int_t v, char *out, size_t outlen) {
  char tmp[24];
  size_t i = sizeof tmp;
  unsigned long long u =
      v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  tmp[--i] = '\0';
  do {
    tmp[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    tmp[--i] = '-';
  join(out, outlen, (const char *const[]){tmp + i, NULL});
}

void ls_json_id(const json_t *v, char *out, size_t outlen) {
  if (json_is_integer(v))
    put_int(json_integer_value(v), out, outlen);
  else if (json_is_string(v) && json_string_length(v) < outlen)
    join(out, outlen, (const char *const[]){json_string_value(v), NULL});
  else if (json_is_real(v) && json_real_value(v) >= 0 &&
           json_real_value(v) < 1e18)
    snprintf(out, outlen, "%.0f", json_real_value(v));
  else
    out[0] = '\0';
}

void ls_json_num_id(const json_t *v, char *out, size_t outlen) {
  out[0] = '\0';
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    put_int(json_integer_value(v), out, outlen);
  } else if (json_is_real(v) && json_real_value(v) >= 0 &&
             json_real_value(v) < 1e18 &&
             json_real_value(v) == (double)(long long)json_real_value(v)) {
    snprintf(out, outlen, "%.0f", json_real_value(v));
  } else if (json_is_string(v)) {
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n < 1 || n > 20 || n >= outlen)
      return;
    for (size_t i = 0; i < n; i++)
      if (s[i] < '0' || s[i] > '9')
        return;
    memcpy(out, s, n + 1);
  }
}

static const char *str_at(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static const char *str_at2(const json_t *o, const char *k1, const char *k2) {
  return str_at(json_object_get(o, k1), k2);
}

static void address_of(const char *detail, char *out, size_t outlen);

/* First candidate field that holds a non-empty string address (a
 * "Name <addr>" value yields the addr). */
static bool first_email(const json_t *root, const char *const *keys, char *out,
                        size_t outlen) {
  for (; *keys; keys++) {
    const char *s;
    if (!strcmp(*keys, "lead_data.email"))
      s = str_at2(root, "lead_data", "email");
    else if (!strcmp(*keys, "leadCorrespondence.targetLeadEmail"))
      s = str_at2(root, "leadCorrespondence", "targetLeadEmail");
    else
      s = str_at(root, *keys);
    if (s) {
      address_of(s, out, outlen);
      if (out[0])
        return true;
    }
  }
  out[0] = '\0';
  return false;
}

/* "Sam Lee <sam@x.com>" -> sam@x.com; a bare address stays as it is. */
static void address_of(const char *detail, char *out, size_t outlen) {
  const char *lt = strrchr(detail, '<');
  if (lt) {
    const char *gt = strchr(lt, '>');
    size_t n = gt ? (size_t)(gt - lt - 1) : strlen(lt + 1);
    char tmp[LS_EMAIL_MAX + 1];
    if (n > LS_EMAIL_MAX) {
      out[0] = '\0';
      return;
    }
    memcpy(tmp, lt + 1, n);
    tmp[n] = '\0';
    ls_normalize_email(tmp, out, outlen);
    return;
  }
  ls_normalize_email(detail, out, outlen);
}

void ls_event_lead_email(const json_t *root, ls_event_type t, char *out,
                         size_t outlen) {
  static const char *const sent_like[] = {"to_email", "sl_lead_email",
                                          "lead_email", NULL};
  /* In replies from_email is our own mailbox: never a lead candidate. */
  static const char *const reply[] = {"sl_lead_email", "to_email",
                                      "leadCorrespondence.targetLeadEmail",
                                      "lead_email", NULL};
  static const char *const unsub[] = {"to_email", "lead_email", NULL};
  static const char *const category[] = {"lead_email", "to_email",
                                         "lead_data.email", "to", NULL};
  static const char *const manual[] = {"lead_email", "to_email", NULL};
  static const char *const unknown[] = {"lead_email", "sl_lead_email",
                                        "to_email", "lead_data.email", NULL};
  out[0] = '\0';
  switch (t) {
  case LS_EV_EMAIL_SENT:
  case LS_EV_FIRST_EMAIL_SENT:
  case LS_EV_EMAIL_OPEN:
  case LS_EV_EMAIL_LINK_CLICK:
  case LS_EV_EMAIL_BOUNCE:
    first_email(root, sent_like, out, outlen);
    break;
  case LS_EV_EMAIL_REPLY:
    first_email(root, reply, out, outlen);
    break;
  case LS_EV_LEAD_UNSUBSCRIBED:
    first_email(root, unsub, out, outlen);
    break;
  case LS_EV_LEAD_CATEGORY_UPDATED:
    first_email(root, category, out, outlen);
    break;
  case LS_EV_MANUAL_STEP_REACHED:
    first_email(root, manual, out, outlen);
    break;
  case LS_EV_UNTRACKED_REPLIES: {
    const char *s = str_at(root, "sender_detail");
    if (s)
      address_of(s, out, outlen);
    break;
  }
  case LS_EV_CAMPAIGN_STATUS_CHANGED:
    break;
  default:
    first_email(root, unknown, out, outlen);
    break;
  }
}

/* Appends one identifying field (and a separator that cannot occur in
 * JSON text unescaped) to the hash input. */
static void add_part(char *buf, size_t cap, size_t *len, const char *s) {
  size_t n = strlen(s);
  char h[65];
  /* A long part (a raw timestamp or message id from the body) goes in as
   * its hash: bounded, and two long values never collide by truncation. */
  if (n > 128) {
    ls_sha256_hex(s, n, h);
    s = h;
    n = 64;
  }
  if (*len + 2 > cap)
    return;
  if (n > cap - *len - 2)
    n = cap - *len - 2;
  memcpy(buf + *len, s, n);
  *len += n;
  buf[(*len)++] = '\x1f';
  buf[*len] = '\0';
}

static void add_json_part(char *buf, size_t cap, size_t *len, const json_t *v) {
  char id[128];
  ls_json_id(v, id, sizeof id);
  add_part(buf, cap, len, id);
}

/* A numeric id: a malformed one counts as absent (ls_json_num_id). */
static void add_num_part(char *buf, size_t cap, size_t *len, const json_t *v) {
  char id[32];
  ls_json_num_id(v, id, sizeof id);
  add_part(buf, cap, len, id);
}

static ls_err identify(const json_t *root, const char *body, size_t len,
                       const char *tenant, const char *topic_prefix,
                       ls_event *ev);

/* The second payload shape is identified as its classic equivalent
 * (ls_shape.h): same type, topic, key and id rules. */
ls_err ls_event_identify(const json_t *root, const char *body, size_t len,
                         const char *tenant, const char *topic_prefix,
                         ls_event *ev) {
  json_t *norm = ls_shape_normalized(root);
  ls_err e = identify(norm ? norm : root, body, len, tenant, topic_prefix, ev);
  json_decref(norm);
  return e;
}

static ls_err identify(const json_t *root, const char *body, size_t len,
                       const char *tenant, const char *topic_prefix,
                       ls_event *ev) {
  const char *tname = str_at(root, "event_type");
  if (!tname)
    return LS_ERR_NO_EVENT_TYPE;
  memset(ev, 0, sizeof *ev);
  ev->type = ls_event_type_from_name(tname);
  if (ev->type != LS_EV_UNKNOWN) {
    join(ev->type_name, sizeof ev->type_name,
         (const char *const[]){tname, NULL});
  } else {
    size_t j = 0;
    for (const char *p = tname; *p && j < sizeof ev->type_name - 1; p++) {
      unsigned char c = (unsigned char)*p;
      if (isalnum(c) || c == '_')
        ev->type_name[j++] = (char)toupper(c);
    }
    ev->type_name[j] = '\0';
    if (!j)
      snprintf(ev->type_name, sizeof ev->type_name, "UNKNOWN");
  }
  const char *slug = ls_event_type_slug(ev->type);
  join(ev->topic, sizeof ev->topic,
       (const char *const[]){topic_prefix, slug, NULL});
  char lower[LS_TYPE_NAME_MAX];
  size_t i = 0;
  for (; ev->type_name[i]; i++)
    lower[i] = (char)tolower((unsigned char)ev->type_name[i]);
  lower[i] = '\0';
  join(ev->ce_type, sizeof ev->ce_type,
       (const char *const[]){"ai.smartlead.", lower, NULL});

  ls_event_lead_email(root, ev->type, ev->lead_email, sizeof ev->lead_email);
  if (ev->type != LS_EV_UNTRACKED_REPLIES)
    ls_json_num_id(json_object_get(root, "campaign_id"), ev->campaign_id,
                   sizeof ev->campaign_id);

  const char *ts = str_at(root, "event_timestamp");
  static const char *const ts_alts[] = {"time_sent",    "time_opened",
                                        "time_clicked", "time_replied",
                                        "created_at",   NULL};
  for (int k = 0; !ts && ts_alts[k]; k++)
    ts = str_at(root, ts_alts[k]);
  if (ts && ls_time_parse(ts, &ev->event_time_us))
    ls_time_format_us(ev->event_time_us, ev->event_time, sizeof ev->event_time);
  else
    ev->event_time_us = 0;

  join(ev->key, sizeof ev->key,
       (const char *const[]){tenant, ":",
                             ev->campaign_id[0] ? ev->campaign_id : "-", ":",
                             ev->lead_email[0] ? ev->lead_email : "-", NULL});

  /* Types the Smartlead API can also report use the occurrence rule, so a
   * back-filled event and its webhook share the id (docs/assurance.md). */
  if (ls_evid_occurrence(root, tenant, ev))
    return LS_OK;

  /* The fields that tell one occurrence from another. Smartlead sends no
   * event id and may deliver twice; the same occurrence hashes the same. */
  char in[4096];
  size_t n = 0;
  in[0] = '\0';
  add_part(in, sizeof in, &n, tenant);
  add_part(in, sizeof in, &n, ev->type_name);
  add_json_part(in, sizeof in, &n, json_object_get(root, "stats_id"));
  add_json_part(in, sizeof in, &n, json_object_get(root, "stats_thread_id"));
  const json_t *lead = json_object_get(root, "sl_email_lead_map_id");
  if (!lead)
    lead = json_object_get(root, "lead_id");
  if (!lead)
    lead = json_object_get(root, "sl_email_lead_id");
  add_num_part(in, sizeof in, &n, lead);
  add_part(in, sizeof in, &n, ev->lead_email);
  add_part(in, sizeof in, &n, ev->campaign_id);
  add_part(in, sizeof in, &n, ts ? ts : "");
  const char *reply_id = str_at2(root, "reply_message", "message_id");
  add_part(in, sizeof in, &n, reply_id ? reply_id : "");
  const json_t *lc = json_object_get(root, "lead_category");
  const json_t *newcat = json_object_get(lc, "new_id");
  if (!newcat || json_is_null(newcat))
    newcat = json_object_get(root, "lead_category_id");
  add_num_part(in, sizeof in, &n, newcat);
  const char *prev = str_at(root, "previous_status");
  const char *cur = str_at(root, "current_status");
  add_part(in, sizeof in, &n, prev ? prev : "");
  add_part(in, sizeof in, &n, cur ? cur : "");
  const json_t *links = json_object_get(root, "link_details");
  if (!json_is_array(links))
    links = json_object_get(root, "link_clicked");
  add_json_part(in, sizeof in, &n, json_array_get(links, 0));
  add_num_part(in, sizeof in, &n, json_object_get(root, "sequence_number"));
  add_num_part(in, sizeof in, &n,
               json_object_get(root, "current_sequence_number"));
  if (!ts && !json_object_get(root, "stats_id") && !reply_id) {
    /* Nothing identifies the occurrence: the body itself does. */
    char bh[65];
    ls_sha256_hex(body, len, bh);
    add_part(in, sizeof in, &n, bh);
  }
  char hex[65];
  ls_sha256_hex(in, n, hex);
  memcpy(ev->event_id, hex, 32);
  ev->event_id[32] = '\0';
  return LS_OK;
}
