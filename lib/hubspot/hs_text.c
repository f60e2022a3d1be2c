/* hs_text: body fitting, entity decoding, address parsing and the junk
 * sender rule (hs_text.h; docs/mapping.md "Text rules"). */
#include "hs_text.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ls_buf.h"
#include "ls_event.h"

/* -- fitting a body ------------------------------------------------------ */

static const char *find_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (const char *p = hay; *p; p++)
    if (!strncasecmp(p, needle, n))
      return p;
  return NULL;
}

/* Offset where a quoted thread starts; 0 when none can be told apart (a
 * quote at offset 0 would leave nothing of the reply, so it does not
 * count either). */
static size_t quote_start(const char *s, bool html) {
  static const char *const html_marks[] = {
      "<div class=\"gmail_quote",   "<blockquote",
      "<div id=\"appendonsend",     "<div class=\"yahoo_quoted",
      "-----Original Message-----", NULL};
  size_t best = 0;
  if (html) {
    for (int i = 0; html_marks[i]; i++) {
      const char *p = find_ci(s, html_marks[i]);
      if (p && p > s && (!best || (size_t)(p - s) < best))
        best = (size_t)(p - s);
    }
    return best;
  }
  /* Plain text: line by line. */
  for (const char *line = s; *line;) {
    const char *eol = strchr(line, '\n');
    size_t len = eol ? (size_t)(eol - line) : strlen(line);
    bool quote = false;
    if (len && line[0] == '>')
      quote = true;
    else if (len >= 3 && !strncmp(line, "On ", 3)) {
      /* "On Tue, 3 Jun 2025 at 10:00, Jane <j@x.com> wrote:" (may wrap
       * onto the next line). */
      const char *w = find_ci(line, "wrote:");
      quote = w && (size_t)(w - line) < len + 200;
    } else if (!strncmp(line, "-----Original Message-----", 26) ||
               !strncmp(line, "________________________________", 32)) {
      quote = true;
    }
    if (quote && line > s)
      return (size_t)(line - s);
    if (!eol)
      break;
    line = eol + 1;
  }
  return 0;
}

char *hs_text_fit(const char *s, size_t max, bool html) {
  size_t n = strlen(s);
  if (n <= max)
    return NULL;
  const char *mark =
      html ? "<p>" HS_TRUNC_MARK_TEXT "</p>" : "\n\n" HS_TRUNC_MARK_TEXT;
  size_t ml = strlen(mark);
  size_t budget = max > ml ? max - ml : 0;
  size_t cut = budget;
  size_t q = quote_start(s, html);
  if (q && q <= budget)
    cut = q; /* the reply itself fits: drop the quoted thread */
  /* Never split a UTF-8 sequence. */
  while (cut && ((unsigned char)s[cut] & 0xC0) == 0x80)
    cut--;
  if (html) {
    /* Not inside a tag or a character reference. */
    for (size_t k = cut; k-- > 0;) {
      if (s[k] == '>')
        break;
      if (s[k] == '<') {
        cut = k;
        break;
      }
    }
    for (size_t k = cut; k-- > 0 && cut - k < 12;) {
      if (s[k] == ';' || isspace((unsigned char)s[k]))
        break;
      if (s[k] == '&') {
        cut = k;
        break;
      }
    }
  }
  char *out = malloc(cut + ml + 1);
  if (!out)
    return NULL;
  memcpy(out, s, cut);
  memcpy(out + cut, mark, ml + 1);
  return out;
}

/* -- entities ------------------------------------------------------------ */

static size_t utf8_put(uint32_t cp, char *o) {
  if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    cp = 0xFFFD;
  return ls_utf8_encode(cp, (unsigned char *)o);
}

/* One reference at p ('&'); returns its length (0: not a reference) and
 * the code point. */
static size_t entity_at(const char *p, uint32_t *cp) {
  static const struct {
    const char *name;
    uint32_t cp;
  } named[] = {{"amp;", '&'},       {"lt;", '<'},       {"gt;", '>'},
               {"quot;", '"'},      {"apos;", '\''},    {"nbsp;", ' '},
               {"#39;", '\''},      {"ndash;", 0x2013}, {"mdash;", 0x2014},
               {"hellip;", 0x2026}, {"rsquo;", 0x2019}, {"lsquo;", 0x2018},
               {"rdquo;", 0x201D},  {"ldquo;", 0x201C}};
  for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
    size_t l = strlen(named[i].name);
    if (!strncmp(p + 1, named[i].name, l)) {
      *cp = named[i].cp;
      return l + 1;
    }
  }
  if (p[1] != '#')
    return 0;
  const char *q = p + 2;
  int base = 10;
  if (*q == 'x' || *q == 'X') {
    base = 16;
    q++;
  }
  uint32_t v = 0;
  const char *d = q;
  while (d - q < 8 && (base == 16 ? isxdigit((unsigned char)*d)
                                  : isdigit((unsigned char)*d))) {
    int x = isdigit((unsigned char)*d)
                ? *d - '0'
                : (tolower((unsigned char)*d) - 'a' + 10);
    v = v * (uint32_t)base + (uint32_t)x;
    d++;
  }
  if (d == q || *d != ';')
    return 0;
  *cp = v;
  return (size_t)(d + 1 - p);
}

char *hs_text_decode_entities(const char *s) {
  if (!s || !strchr(s, '&'))
    return NULL;
  size_t n = strlen(s);
  char *out = malloc(n + 1); /* a reference is never shorter in UTF-8 */
  if (!out)
    return NULL;
  size_t o = 0;
  bool changed = false;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t l = s[i] == '&' ? entity_at(s + i, &cp) : 0;
    if (l) { /* a reference is at least as long as its UTF-8 */
      o += utf8_put(cp, out + o);
      i += l;
      changed = true;
    } else {
      out[o++] = s[i++];
    }
  }
  out[o] = '\0';
  if (!changed) {
    free(out);
    return NULL;
  }
  return out;
}

/* -- addresses ------------------------------------------------------------ */

static void trim_span(const char **b, const char **e) {
  while (*b < *e && (isspace((unsigned char)**b) || **b == '"' || **b == '\''))
    (*b)++;
  while (*e > *b && (isspace((unsigned char)(*e)[-1]) || (*e)[-1] == '"' ||
                     (*e)[-1] == '\''))
    (*e)--;
}

static bool address_span(const char *b, const char *e, char *addr, size_t alen,
                         char *name, size_t nlen) {
  char tmp[LS_EMAIL_MAX + 1], norm[LS_EMAIL_MAX + 1];
  const char *lt = NULL, *gt = NULL;
  for (const char *p = b; p < e; p++)
    if (*p == '<')
      lt = p;
  if (lt)
    for (const char *p = lt; p < e; p++)
      if (*p == '>') {
        gt = p;
        break;
      }
  const char *ab = b, *ae = e, *nb = b, *ne = b;
  if (lt) {
    ab = lt + 1;
    ae = gt ? gt : e;
    nb = b;
    ne = lt;
    trim_span(&nb, &ne);
  }
  trim_span(&ab, &ae);
  if (name && nlen)
    snprintf(name, nlen, "%.*s", (int)(ne - nb), nb);
  if (addr && alen)
    addr[0] = '\0';
  size_t al = (size_t)(ae - ab);
  if (!al || al > LS_EMAIL_MAX)
    return false;
  memcpy(tmp, ab, al);
  tmp[al] = '\0';
  const char *at = strchr(tmp, '@');
  if (!at || at == tmp || !at[1] || strchr(at + 1, '@') ||
      strpbrk(tmp, " \t<>,;"))
    return false;
  ls_normalize_email(tmp, norm, sizeof norm);
  if (!norm[0])
    return false;
  if (addr && alen)
    snprintf(addr, alen, "%s", norm);
  return true;
}

bool hs_text_address(const char *in, char *addr, size_t alen, char *name,
                     size_t nlen) {
  if (addr && alen)
    addr[0] = '\0';
  if (name && nlen)
    name[0] = '\0';
  if (!in)
    return false;
  return address_span(in, in + strlen(in), addr, alen, name, nlen);
}

void hs_split_name(const char *full, char *first, size_t fl, char *last,
                   size_t ll) {
  first[0] = last[0] = '\0';
  if (!full)
    return;
  while (isspace((unsigned char)*full))
    full++;
  size_t n = strcspn(full, " \t");
  snprintf(first, fl, "%.*s", (int)n, full);
  const char *rest = full + n;
  while (isspace((unsigned char)*rest))
    rest++;
  snprintf(last, ll, "%s", rest);
  size_t k = strlen(last);
  while (k && isspace((unsigned char)last[k - 1]))
    last[--k] = '\0';
}

json_t *hs_text_person(const char *email, const char *name) {
  json_t *p = json_object();
  char addr[LS_EMAIL_MAX + 1], dn[256];
  if (email && hs_text_address(email, addr, sizeof addr, dn, sizeof dn)) {
    email = addr;
    if ((!name || !*name) && dn[0])
      name = dn;
  }
  json_object_set_new(p, "email", json_string(email ? email : ""));
  if (name && *name) {
    char f[128], l[128];
    hs_split_name(name, f, sizeof f, l, sizeof l);
    if (f[0])
      json_object_set_new(p, "firstName", json_string(f));
    if (l[0])
      json_object_set_new(p, "lastName", json_string(l));
  }
  return p;
}

static void list_add(json_t *out, const char *b, const char *e) {
  char addr[LS_EMAIL_MAX + 1], name[256];
  if (address_span(b, e, addr, sizeof addr, name, sizeof name))
    json_array_append_new(out, hs_text_person(addr, name));
}

/* Splits at ',' and ';' outside quotes and angle brackets. */
static void split_into(json_t *out, const char *s) {
  bool q = false;
  int ang = 0;
  const char *b = s;
  for (const char *p = s;; p++) {
    if (*p == '"')
      q = !q;
    else if (*p == '<' && !q)
      ang++;
    else if (*p == '>' && !q && ang)
      ang--;
    if (!*p || ((*p == ',' || *p == ';') && !q && !ang)) {
      list_add(out, b, p);
      if (!*p)
        break;
      b = p + 1;
    }
  }
}

json_t *hs_text_address_list(const json_t *v) {
  json_t *out = json_array();
  if (json_is_string(v)) {
    split_into(out, json_string_value(v));
  } else if (json_is_array(v)) {
    size_t i;
    const json_t *it;
    json_array_foreach(v, i, it) {
      if (json_is_string(it))
        split_into(out, json_string_value(it));
    }
  }
  return out;
}

/* -- junk senders --------------------------------------------------------- */

const char *hs_text_junk_sender(const char *sender_detail,
                                const char *auto_submitted,
                                const char *const *patterns) {
  char addr[LS_EMAIL_MAX + 1];
  if (!hs_text_address(sender_detail, addr, sizeof addr, NULL, 0))
    return "sender_no_address";
  char local[LS_EMAIL_MAX + 1];
  snprintf(local, sizeof local, "%.*s", (int)strcspn(addr, "@"), addr);
  if (strstr(local, "mailer-daemon") || strstr(local, "mailerdaemon"))
    return "sender_mailer_daemon";
  if (!strcmp(local, "postmaster") || !strncmp(local, "postmaster+", 11))
    return "sender_postmaster";
  static const char *const no_reply[] = {
      "noreply",      "no-reply",     "no_reply", "donotreply",
      "do-not-reply", "do_not_reply", "dmarc",    NULL};
  for (int i = 0; no_reply[i]; i++)
    if (strstr(local, no_reply[i]))
      return "sender_no_reply";
  if (auto_submitted && *auto_submitted && strcasecmp(auto_submitted, "no"))
    return "auto_submitted";
  for (; patterns && *patterns; patterns++)
    if (**patterns && find_ci(addr, *patterns))
      return "sender_pattern";
  return NULL;
}

/* -- rejected properties -------------------------------------------------- */

static bool has_prop(const json_t *out, const char *name) {
  size_t i;
  const json_t *it;
  json_array_foreach(out, i, it) {
    if (!strcmp(json_string_value(json_object_get(it, "property")), name))
      return true;
  }
  return false;
}

static void add_rejected(json_t *out, const char *name, const char *code,
                         const char *msg) {
  if (!name || !*name || has_prop(out, name))
    return;
  json_t *r = json_pack("{s:s}", "property", name);
  json_object_set_new(r, "code", code ? json_string(code) : json_null());
  char m[300];
  snprintf(m, sizeof m, "%s", msg ? msg : "");
  json_object_set_new(r, "message", msg ? json_string(m) : json_null());
  json_array_append_new(out, r);
}

/* "Property values were not valid: [{...,"name":"phone",...}]" */
static void from_message(json_t *out, const char *msg) {
  const char *p = msg ? strstr(msg, "not valid:") : NULL;
  const char *lb = p ? strchr(p, '[') : NULL;
  if (!lb)
    return;
  json_t *arr = json_loads(lb, JSON_DISABLE_EOF_CHECK, NULL);
  size_t i;
  const json_t *it;
  json_array_foreach(arr, i, it) {
    add_rejected(out, json_string_value(json_object_get(it, "name")),
                 json_string_value(json_object_get(it, "error")),
                 json_string_value(json_object_get(it, "message")));
  }
  json_decref(arr);
}

json_t *hs_rejected_properties(const json_t *err) {
  json_t *out = json_array();
  if (!json_is_object(err))
    return out;
  size_t i;
  const json_t *it;
  json_array_foreach(json_object_get(err, "errors"), i, it) {
    const json_t *pn =
        json_object_get(json_object_get(it, "context"), "propertyName");
    size_t k;
    const json_t *n;
    json_array_foreach(pn, k, n) {
      add_rejected(out, json_string_value(n),
                   json_string_value(json_object_get(it, "code")),
                   json_string_value(json_object_get(it, "message")));
    }
    from_message(out, json_string_value(json_object_get(it, "message")));
  }
  from_message(out, json_string_value(json_object_get(err, "message")));
  return out;
}
