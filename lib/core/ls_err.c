/* ls_err: names and messages for the error enum. */
#include "ls_err.h"

static const char *const names[] = {
#define LS_ERR_NAME(code, name, msg) name,
    LS_ERR_MAP(LS_ERR_NAME)
#undef LS_ERR_NAME
};

static const char *const msgs[] = {
#define LS_ERR_MSG(code, name, msg) msg,
    LS_ERR_MAP(LS_ERR_MSG)
#undef LS_ERR_MSG
};

const char *ls_err_name(ls_err e) {
  return (e >= 0 && e < LS_ERR__COUNT) ? names[e] : "unknown";
}

const char *ls_err_msg(ls_err e) {
  return (e >= 0 && e < LS_ERR__COUNT) ? msgs[e] : "unknown error";
}
