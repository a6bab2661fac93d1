/* cmd_user.c: webotctl user create --account ID --email EMAIL
 *             --role owner|admin|member --password-stdin */
#include "webotctl.h"
#include "webot_util.h"

#include <apr_general.h>
#include <apr_md5.h>
#include <apr_strings.h>
#include <apr_lib.h>
#include <openssl/crypto.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PW_MAX_BYTES   1024
#define PW_MIN_CHARS   8
#define EMAIL_MAX      254
#define BCRYPT_COST    10
#define BCRYPT_SALT    16

static int check_role(const char *role)
{
    if (strcmp(role, "owner") && strcmp(role, "admin")
        && strcmp(role, "member")) {
        wctl_err("bad role '%s' (owner, admin or member)", role);
        return WCTL_ERR;
    }
    return WCTL_OK;
}

static int local_char_ok(int ch)
{
    return apr_isalnum(ch) || (ch && strchr("!#$%&'*+/=?^_`{|}~.-", ch));
}

/* local part: dot-atom of 1..64 characters */
static int local_ok(const char *s, size_t len)
{
    size_t i;
    if (len < 1 || len > 64 || s[0] == '.' || s[len - 1] == '.') {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!local_char_ok((unsigned char)s[i])
            || (s[i] == '.' && s[i + 1] == '.')) {
            return 0;
        }
    }
    return 1;
}

/* domain: two or more labels of [a-z0-9-] (1..63, no edge hyphen), and an
 * alphabetic top-level label of two or more letters */
static int domain_ok(const char *s)
{
    const char *label = s, *p;
    int labels = 0, alpha = 1;

    for (p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t n = (size_t)(p - label);
            if (n < 1 || n > 63 || label[0] == '-' || p[-1] == '-') {
                return 0;
            }
            labels++;
            if (*p == '\0') {
                return labels >= 2 && alpha && n >= 2;
            }
            label = p + 1;
            alpha = 1;
            continue;
        }
        if (!apr_isalnum(*p) && *p != '-') {
            return 0;
        }
        alpha = alpha && apr_isalpha(*p);
    }
}

/* Lower-cases and checks an address; NULL (message printed) if bad. */
static const char *normalize_email(apr_pool_t *p, const char *in)
{
    char *email = apr_pstrdup(p, in), *at, *q;

    for (q = email; *q; q++) {
        *q = (char)apr_tolower(*q);
    }
    at = strchr(email, '@');
    if (strlen(email) > EMAIL_MAX || !at || strchr(at + 1, '@')
        || !local_ok(email, (size_t)(at - email)) || !domain_ok(at + 1)) {
        wctl_err("bad email address '%s' (want name@example.com, at most "
                 "%d characters)", in, EMAIL_MAX);
        return NULL;
    }
    return email;
}

/* Reads one line into buf (PW_MAX_BYTES + 2 bytes) without its newline
 * or CRLF; returns its length, or -1 (message printed). */
static long read_line(char *buf)
{
    long n = 0;
    int ch, last = 0;

    while ((ch = getchar()) != EOF && ch != '\n') {
        if (ch == '\0') {
            wctl_err("the password contains a NUL byte");
            return -1;
        }
        if (n <= PW_MAX_BYTES) {
            buf[n] = (char)ch;          /* beyond that: only counted */
        }
        n++;
        last = ch;
    }
    if (last == '\r') {
        n--;
    }
    if (n > PW_MAX_BYTES) {
        wctl_err("the password is longer than %d bytes", PW_MAX_BYTES);
        return -1;
    }
    buf[n] = '\0';
    return n;
}

/* read_line with echo off when stdin is a terminal. */
static long read_password(char *buf)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    long n;

    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fputs("Password: ", stderr);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    n = read_line(buf);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    return n;
}

static int check_password(const char *pw, long n)
{
    long chars;
    if (n <= 0) {
        wctl_err("empty password on stdin");
        return WCTL_ERR;
    }
    chars = wctl_utf8_len(pw);
    if (chars < 0) {
        wctl_err("the password is not valid UTF-8");
        return WCTL_ERR;
    }
    if (chars < PW_MIN_CHARS) {
        wctl_err("the password is shorter than %d characters", PW_MIN_CHARS);
        return WCTL_ERR;
    }
    return WCTL_OK;
}

/* bcrypt (cost 10, 16 random salt bytes) of pw; NULL on failure. */
static const char *bcrypt_hash(apr_pool_t *p, const char *pw)
{
    unsigned char salt[BCRYPT_SALT];
    char out[128];

    if (apr_generate_random_bytes(salt, sizeof(salt)) != APR_SUCCESS) {
        wctl_err("the system random number generator failed");
        return NULL;
    }
    if (apr_bcrypt_encode(pw, BCRYPT_COST, salt, sizeof(salt), out,
                          sizeof(out)) != APR_SUCCESS) {
        wctl_err("bcrypt failed");
        return NULL;
    }
    return apr_pstrdup(p, out);
}

/* bcrypt hash of the password read from stdin; NULL on failure. */
static const char *password_hash(apr_pool_t *p)
{
    char pw[PW_MAX_BYTES + 2];
    long n = read_password(pw);
    const char *hash = NULL;

    if (n >= 0 && check_password(pw, n) == WCTL_OK) {
        hash = bcrypt_hash(p, pw);
    }
    OPENSSL_cleanse(pw, sizeof(pw));
    return hash;
}

static int insert_user(wctl_t *c, const char *const params[5])
{
    int ok, rv = WCTL_OK;
    PGresult *res = wctl_q(c,
        "INSERT INTO users (id, account_id, email, password_hash, role) "
        "VALUES ($1, $2, $3, $4, $5)", 5, params, &ok);

    if (!ok) {
        rv = WCTL_ERR;
        if (strcmp(wctl_constraint(res), "users_email_key") == 0) {
            wctl_err("a user with email %s already exists", params[2]);
        }
        else if (strcmp(wctl_sqlstate(res), "23503") == 0) {
            wctl_err("unknown account %s", params[1]);
        }
        else {
            wctl_db_error(res, "creating the user");
        }
    }
    PQclear(res);
    return rv;
}

int wctl_cmd_user(wctl_t *c, int argc, char **argv)
{
    wctl_opt_t opts[] = { { "--account", 1, NULL }, { "--email", 1, NULL },
                          { "--role", 1, NULL },
                          { "--password-stdin", 0, NULL },
                          { NULL, 0, NULL } };
    const char *pos[1], *p[5];
    int npos, rv;

    if ((rv = wctl_subcommand("user", argc, argv, "create")) != 0
        || (rv = wctl_parse(c, argc - 1, argv + 1, opts, pos, 0, &npos))) {
        return rv;
    }
    p[1] = wctl_opt(opts, "--account");
    p[2] = wctl_opt(opts, "--email");
    p[4] = wctl_opt(opts, "--role");
    if (!p[1] || !p[2] || !p[4] || !wctl_opt(opts, "--password-stdin")) {
        return wctl_missing("user create", !p[1] ? "--account ID"
                            : !p[2] ? "--email EMAIL" : !p[4] ? "--role ROLE"
                            : "--password-stdin");
    }
    if (check_role(p[4]) != WCTL_OK
        || !(p[2] = normalize_email(c->pool, p[2]))
        || !(p[3] = password_hash(c->pool))
        || wctl_db_connect(c) != WCTL_OK
        || wctl_account_exists(c, p[1]) != 1) {
        return WCTL_ERR;
    }
    if (!(p[0] = webot_id_new(c->pool, "usr_"))) {
        wctl_err("the system random number generator failed");
        return WCTL_ERR;
    }
    if ((rv = insert_user(c, p)) != WCTL_OK) {
        return rv;
    }
    if (c->json) {
        return wctl_print_json(json_pack("{s:s}", "id", p[0]));
    }
    puts(p[0]);
    return WCTL_OK;
}
