/*
 * cvcbench: how fast openpace/libeac (Debian bookworm: libeac-dev 1.1.2 + OpenSSL 3) does the
 * work of eacgate's cvc benchmarks, on this machine. See README.md next to this file.
 *
 *   cvcbench verify CVCA DV TERMINAL [SECONDS]
 *       per operation: CVC_d2i_CVC_CERT(TERMINAL's DER bytes) + CVC_verify_signature with the
 *       DV's public key (built once, before timing, from the DV certificate's point and the
 *       CVCA certificate's domain parameters)          - eacgate's BenchmarkDecodeVerify.
 *   cvcbench sign CVCA DV TERMINAL DV.pkcs8 [SECONDS]
 *       per operation: build a fresh CVC_CERT_BODY from template values (profile 0, CAR, public
 *       key OID + point / modulus + exponent, CHR, CHAT, dates: copied once, before timing, from
 *       TERMINAL), i2d_CVC_CERT_BODY, EAC_sign with the DV private key (hash + ECDSA with plain
 *       r||s, or RSA v1.5 / PSS), put the signature into a CVC_CERT, i2d_CVC_CERT, free
 *                                                       - eacgate's BenchmarkIssue.
 *
 * Prints one line: "openpace decode+verify|encode+sign LABEL OPS_PER_SECOND", LABEL like
 * eacgate's sub-benchmark names (id-TA-ECDSA-SHA-256/P-256, id-TA-RSA-PSS-SHA-256/RSA-2048).
 * Single-threaded, time-bounded loop (CLOCK_MONOTONIC, default 2 s). Before timing, the chain
 * CVCA -> DV -> TERMINAL is verified; after timing, the last certificate produced by `sign` is
 * checked to carry exactly TERMINAL's body and to verify with the DV's public key.
 *
 * Build: gcc -O2 -Wall -Wno-deprecated-declarations -o cvcbench cvcbench.c \
 *            $(pkg-config --cflags --libs libeac) -lcrypto
 */
#include <eac/cv_cert.h>
#include <eac/eac.h>
#include <eac/objects.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* exported by libeac.so but not declared in its public headers */
BUF_MEM *EAC_sign(int protocol, EVP_PKEY *key, const BUF_MEM *data);
int CVC_pubkey2eckey(int all_parameters, const CVC_PUBKEY *public_key, BN_CTX *bn_ctx, EVP_PKEY *key);

static void die(const char *what)
{
    fprintf(stderr, "cvcbench: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static unsigned char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END); *len = ftell(f); rewind(f);
    b = malloc(*len > 0 ? *len : 1);
    if (!b || fread(b, 1, *len, f) != (size_t) *len) { perror(path); exit(2); }
    fclose(f);
    return b;
}

static CVC_CERT *load_cert(const char *path, unsigned char **raw, long *len)
{
    const unsigned char *p;
    CVC_CERT *c = NULL;
    *raw = slurp(path, len);
    p = *raw;
    if (!CVC_d2i_CVC_CERT(&c, &p, *len)) { fprintf(stderr, "cvcbench: %s: not a CV certificate\n", path); exit(2); }
    return c;
}

static int is_ecdsa(int nid)
{
    return nid == NID_id_TA_ECDSA_SHA_1 || nid == NID_id_TA_ECDSA_SHA_224 || nid == NID_id_TA_ECDSA_SHA_256
        || nid == NID_id_TA_ECDSA_SHA_384 || nid == NID_id_TA_ECDSA_SHA_512;
}

static int key_nid(const CVC_CERT *c)
{
    return OBJ_obj2nid(c->body->public_key->oid);
}

/* EC public key: the group of `params` (from the CVCA's domain parameters) + the point of `c` */
static EVP_PKEY *ec_key_with_point(const EVP_PKEY *params, const CVC_CERT *c)
{
    const EC_GROUP *g = EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(params));
    const ASN1_OCTET_STRING *os = c->body->public_key->cont6;
    EC_KEY *ec = EC_KEY_new();
    EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
    EVP_PKEY *out = EVP_PKEY_new();
    if (!ec || !pt || !out || !os || !EC_KEY_set_group(ec, g)
            || !EC_POINT_oct2point(g, pt, ASN1_STRING_get0_data(os), ASN1_STRING_length(os), NULL)
            || !EC_KEY_set_public_key(ec, pt) || !EC_KEY_check_key(ec) || !EVP_PKEY_set1_EC_KEY(out, ec))
        die("cannot build an EC public key from a certificate point");
    EC_POINT_free(pt); EC_KEY_free(ec);
    return out;
}

/* public keys of the CVCA (its own domain parameters) and of a certificate it (or its DV) issued */
static EVP_PKEY *cvca_key(const CVC_CERT *cvca)
{
    EVP_PKEY *k;
    if (!is_ecdsa(key_nid(cvca))) return CVC_pubkey2pkey(cvca, NULL, NULL);
    k = EVP_PKEY_new();
    if (!k || !CVC_pubkey2eckey(1, cvca->body->public_key, NULL, k)) die("cannot read the CVCA's EC domain parameters");
    return k;
}

static EVP_PKEY *subject_key(const CVC_CERT *c, const EVP_PKEY *cvca_params)
{
    EVP_PKEY *k;
    if (!is_ecdsa(key_nid(c))) {
        k = CVC_pubkey2pkey(c, NULL, NULL);
        if (!k) die("cannot read an RSA public key");
        return k;
    }
    if (EVP_PKEY_base_id(cvca_params) != EVP_PKEY_EC) die("EC certificate below a non-EC CVCA");
    return ec_key_with_point(cvca_params, c);
}

/* "id-TA-ECDSA-SHA-256/P-256", "id-TA-ECDSA-SHA-384/brainpoolP384r1", "id-TA-RSA-PSS-SHA-256/RSA-2048" */
static void make_label(char *out, size_t n, int nid, const EVP_PKEY *k)
{
    if (EVP_PKEY_base_id(k) == EVP_PKEY_EC) {
        const EC_GROUP *g = EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(k));
        int cn = EC_GROUP_get_curve_name(g);
        const char *name;
        if (cn == NID_undef) cn = EC_GROUP_check_named_curve(g, 0, NULL); /* explicit parameters */
        name = cn > 0 ? EC_curve_nid2nist(cn) : NULL;
        if (!name) name = cn > 0 ? OBJ_nid2sn(cn) : "unknown-curve";
        snprintf(out, n, "%s/%s", OBJ_nid2sn(nid), name);
    } else {
        snprintf(out, n, "%s/RSA-%d", OBJ_nid2sn(nid), EVP_PKEY_get_bits(k));
    }
    /* the label is one whitespace-free field */
    for (; *out; out++) if (*out == ' ') *out = '_';
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ----------------------------------------------------------------- decode+verify */
static int verify_once(const unsigned char *raw, long len, int nid, EVP_PKEY *dvkey)
{
    const unsigned char *p = raw;
    CVC_CERT *c = NULL;
    int ok = CVC_d2i_CVC_CERT(&c, &p, len) != NULL && CVC_verify_signature(c, nid, dvkey) == 1;
    CVC_CERT_free(c);
    return ok;
}

/* ----------------------------------------------------------------- encode+sign */
/* what eacgate's CertificateTemplate holds: plain values, no ASN.1 objects */
struct bytes { unsigned char *d; int n; };
struct tmpl {
    struct bytes car, chr, eff, exp, auth, pk[7];
    int pk_nid, chat_nid;
};

static struct bytes copy_str(const ASN1_STRING *s)
{
    struct bytes b = { NULL, 0 };
    if (s) {
        b.n = ASN1_STRING_length(s);
        b.d = malloc(b.n > 0 ? b.n : 1);
        memcpy(b.d, ASN1_STRING_get0_data(s), b.n);
    }
    return b;
}

static void tmpl_from_cert(struct tmpl *t, const CVC_CERT *c)
{
    const CVC_PUBKEY *pk = c->body->public_key;
    if (c->body->certificate_extensions && OPENSSL_sk_num((const OPENSSL_STACK *) c->body->certificate_extensions) > 0)
        die("terminal certificates with extensions are not supported");
    t->car = copy_str(c->body->certificate_authority_reference);
    t->chr = copy_str(c->body->certificate_holder_reference);
    t->eff = copy_str(c->body->certificate_effective_date);
    t->exp = copy_str(c->body->certificate_expiration_date);
    t->auth = copy_str(c->body->chat->relative_authorization);
    t->chat_nid = OBJ_obj2nid(c->body->chat->terminal_type);
    t->pk_nid = OBJ_obj2nid(pk->oid);
    t->pk[0] = copy_str(pk->cont1); t->pk[1] = copy_str(pk->cont2); t->pk[2] = copy_str(pk->cont3);
    t->pk[3] = copy_str(pk->cont4); t->pk[4] = copy_str(pk->cont5); t->pk[5] = copy_str(pk->cont6);
    t->pk[6] = copy_str(pk->cont7);
}

/* set *f (allocating it if the ASN.1 constructor did not) to the bytes of b; NULL if b is absent */
static int set_str(ASN1_STRING **f, int type, const struct bytes *b)
{
    if (!b->d) { ASN1_STRING_free(*f); *f = NULL; return 1; }
    if (!*f && !(*f = ASN1_STRING_type_new(type))) return 0;
    return ASN1_STRING_set(*f, b->d, b->n);
}

/* one issuance: returns the DER certificate (caller frees with OPENSSL_free) */
static unsigned char *issue_once(const struct tmpl *t, int sig_nid, EVP_PKEY *dvpriv, int *out_len)
{
    CVC_CERT *c = CVC_CERT_new();
    CVC_CERT_BODY *b;
    CVC_PUBKEY *pk;
    unsigned char *body = NULL, *der = NULL;
    BUF_MEM *sig = NULL;
    int bl, ok = 0, i;

    if (!c) return NULL;
    if (!c->body && !(c->body = CVC_CERT_BODY_new())) goto end;
    b = c->body;
    if (!b->certificate_profile_identifier && !(b->certificate_profile_identifier = ASN1_INTEGER_new())) goto end;
    if (!ASN1_INTEGER_set(b->certificate_profile_identifier, 0)) goto end;
    if (!set_str(&b->certificate_authority_reference, V_ASN1_UTF8STRING, &t->car)
            || !set_str(&b->certificate_holder_reference, V_ASN1_UTF8STRING, &t->chr)
            || !set_str(&b->certificate_effective_date, V_ASN1_OCTET_STRING, &t->eff)
            || !set_str(&b->certificate_expiration_date, V_ASN1_OCTET_STRING, &t->exp)) goto end;
    if (!b->public_key && !(b->public_key = CVC_PUBKEY_new())) goto end;
    pk = b->public_key;
    ASN1_OBJECT_free(pk->oid);
    pk->oid = OBJ_nid2obj(t->pk_nid);
    {
        ASN1_OCTET_STRING **f[7] = { &pk->cont1, &pk->cont2, &pk->cont3, &pk->cont4, &pk->cont5, &pk->cont6, &pk->cont7 };
        for (i = 0; i < 7; i++)
            if (!set_str(f[i], V_ASN1_OCTET_STRING, &t->pk[i])) goto end;
    }
    if (!b->chat && !(b->chat = CVC_CHAT_new())) goto end;
    ASN1_OBJECT_free(b->chat->terminal_type);
    b->chat->terminal_type = OBJ_nid2obj(t->chat_nid);
    if (!set_str(&b->chat->relative_authorization, V_ASN1_OCTET_STRING, &t->auth)) goto end;

    bl = i2d_CVC_CERT_BODY(b, &body);
    if (bl <= 0) goto end;
    {
        BUF_MEM data = { (size_t) bl, (char *) body, (size_t) bl, 0 };
        sig = EAC_sign(sig_nid, dvpriv, &data);
    }
    if (!sig) goto end;
    if (!c->signature && !(c->signature = ASN1_OCTET_STRING_new())) goto end;
    if (!ASN1_OCTET_STRING_set(c->signature, (unsigned char *) sig->data, (int) sig->length)) goto end;
    *out_len = i2d_CVC_CERT(c, &der);
    ok = *out_len > 0;
end:
    BUF_MEM_free(sig);
    OPENSSL_free(body);
    CVC_CERT_free(c);
    if (!ok) { OPENSSL_free(der); der = NULL; }
    return der;
}

/* the body bytes (7F4E TLV) of a DER CV certificate */
static int body_of(const unsigned char *der, long len, unsigned char **out)
{
    const unsigned char *p = der;
    CVC_CERT *c = NULL;
    int n;
    if (!CVC_d2i_CVC_CERT(&c, &p, len)) return -1;
    n = i2d_CVC_CERT_BODY(c->body, out);
    CVC_CERT_free(c);
    return n;
}

int main(int argc, char **argv)
{
    unsigned char *raw_cvca, *raw_dv, *raw_term;
    long l_cvca, l_dv, l_term, ops = 0;
    CVC_CERT *cvca, *dv, *term;
    EVP_PKEY *kcvca, *kdv, *priv = NULL;
    double secs = 2, start, t;
    int nid_cvca, nid, sign;
    char label[128];

    if (argc < 5 || (strcmp(argv[1], "verify") && strcmp(argv[1], "sign"))
            || (!strcmp(argv[1], "sign") && argc < 6)) {
        fprintf(stderr, "usage: cvcbench verify CVCA DV TERMINAL [SECONDS]\n"
                        "       cvcbench sign CVCA DV TERMINAL DV.pkcs8 [SECONDS]\n");
        return 2;
    }
    sign = strcmp(argv[1], "sign") == 0;
    if (argc > (sign ? 6 : 5)) secs = atof(argv[sign ? 6 : 5]);
    if (!(secs > 0)) { fprintf(stderr, "cvcbench: SECONDS must be > 0\n"); return 2; }

    EAC_init();
    cvca = load_cert(argv[2], &raw_cvca, &l_cvca);
    dv = load_cert(argv[3], &raw_dv, &l_dv);
    term = load_cert(argv[4], &raw_term, &l_term);
    nid_cvca = key_nid(cvca);
    nid = key_nid(dv);                 /* the DV signs the terminal certificate with its algorithm */
    kcvca = cvca_key(cvca);
    kdv = subject_key(dv, kcvca);
    make_label(label, sizeof label, nid, kdv);

    /* the chain must hold, or we would measure error paths */
    if (CVC_verify_signature(dv, nid_cvca, kcvca) != 1) die("DV certificate does not verify with the CVCA key");
    if (!verify_once(raw_term, l_term, nid, kdv)) die("terminal certificate does not verify with the DV key");

    if (!sign) {
        start = now();
        do {
            if (!verify_once(raw_term, l_term, nid, kdv)) die("decode+verify failed");
            ops++;
        } while ((t = now() - start) < secs);
        printf("openpace decode+verify %s %.0f\n", label, ops / t);
    } else {
        struct tmpl tp;
        unsigned char *kb, *der = NULL, *b1 = NULL, *b2 = NULL;
        const unsigned char *p;
        long kl;
        int dl = 0, n1, n2;

        kb = slurp(argv[5], &kl);
        p = kb;
        if (!(priv = d2i_AutoPrivateKey(NULL, &p, kl))) die("DV.pkcs8 is not a DER private key");
        if (EVP_PKEY_base_id(priv) != EVP_PKEY_base_id(kdv)) die("DV.pkcs8 does not match the DV certificate's key type");
        memset(&tp, 0, sizeof tp);
        tmpl_from_cert(&tp, term);

        start = now();
        do {
            OPENSSL_free(der);
            if (!(der = issue_once(&tp, nid, priv, &dl))) die("encode+sign failed");
            ops++;
        } while ((t = now() - start) < secs);

        /* the last certificate: same body as TERMINAL, and a valid DV signature */
        n1 = body_of(raw_term, l_term, &b1);
        n2 = body_of(der, dl, &b2);
        if (n1 <= 0 || n1 != n2 || memcmp(b1, b2, n1)) die("issued body differs from the terminal certificate's body");
        if (!verify_once(der, dl, nid, kdv)) die("issued certificate does not verify with the DV public key");
        printf("openpace encode+sign %s %.0f\n", label, ops / t);
        OPENSSL_free(der); OPENSSL_free(b1); OPENSSL_free(b2);
    }
    EAC_cleanup();
    return 0;
}
