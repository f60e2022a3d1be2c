/* ls_file: small file helpers (ready files that readers never see half). */
#ifndef LS_FILE_H
#define LS_FILE_H

/* Writes text and a newline to path.tmp.<pid>, then renames it over path,
 * so a reader polling for path sees nothing or the whole line. 0 or -1. */
int ls_write_file_atomic(const char *path, const char *text);

#endif
