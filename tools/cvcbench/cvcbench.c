/*
 * cvcbench: how fast openpace/libeac does what eacgate's cvc benchmarks do, on this machine.
 *
 *   cvcbench verify CVCA DV TERMINAL [SECONDS]
 *       decode the terminal certificate (CVC_d2i_CVC_CERT) and verify its signature with the
 *       DV's key (CVC_verify_signature) - eacgate's BenchmarkDecodeVerify.
 *   cvcbench sign CVCA DV TERMINAL DV.pkcs8 [SECONDS]
 *       encode the terminal certificate's body (i2d_CVC_CERT), sign it with the DV key
 *       (EAC_sign: hashing, ECDSA/RSA, plain r||s) and encode the certificate again
 *       - eacgate's BenchmarkIssue.
 *
 * Prints one line: "openpace <what> <label> <ops/s>". Single-threaded, time-bounded.
 * Build: gcc -O2 -Wno-deprecated-declarations -o cvcbench cvcbench.c $(pkg-config --cflags --libs libeac) -lcrypto
 */
#include <eac/cv_cert.h>
#include <eac/eac.h>
#include <openssl/buffer.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* exported by libeac.so but not declared in its public headers */
BUF_MEM *EAC_sign(int protocol, EVP_PKEY *key, const BUF_MEM *data);
int CVC_pubkey2eckey(int all_parameters, const CVC_PUBKEY *public_key, BN_CTX *bn_ctx, EVP_PKEY *key);

static unsigned char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END); *len = ftell(f); rewind(f);
    b = malloc(*len);
    if (!b || fread(b, 1, *len, f) != (size_t) *len) { perror(path); exit(2); }
    fclose(f);
    return b;
}

static CVC_CERT *cert(const char *path, unsigned char **raw, long *len)
{
    const unsigned char *p;
    CVC_CERT *c = NULL;
    *raw = slurp(path, len);
    p = *raw;
    if (!CVC_d2i_CVC_CERT(&c, &p, *len)) { fprintf(stderr, "%s: not a CV certificate\n", path); exit(2); }
    return c;
}

static int is_ec(const CVC_CERT *c)
{
    int nid = OBJ_obj2nid(c->body->public_key->oid);
    return nid == NID_id_TA_ECDSA_SHA_1 || nid == NID_id_TA_ECDSA_SHA_224 || nid == NID_id_TA_ECDSA_SHA_256
        || nid == NID_id_TA_ECDSA_SHA_384 || nid == NID_id_TA_ECDSA_SHA_512;
}

/* the DV's verification key: for EC, the CVCA's domain parameters with the DV's point */
static EVP_PKEY *dv_key(const CVC_CERT *cvca, const CVC_CERT *dv)
{
    EVP_PKEY *params, *out;
    EC_KEY *ec;
    EC_POINT *pt;
    const EC_GROUP *g;
    if (!is_ec(dv)) return CVC_pubkey2pkey(dv, NULL, NULL);
    params = EVP_PKEY_new();
    if (!CVC_pubkey2eckey(1, cvca->body->public_key, NULL, params)) { fprintf(stderr, "CVCA key\n"); exit(2); }
    g = EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(params));
    ec = EC_KEY_new();
    EC_KEY_set_group(ec, g);
    pt = EC_POINT_new(g);
    if (!EC_POINT_oct2point(g, pt, ASN1_STRING_get0_data(dv->body->public_key->cont6),
                            ASN1_STRING_length(dv->body->public_key->cont6), NULL)) { fprintf(stderr, "DV point\n"); exit(2); }
    EC_KEY_set_public_key(ec, pt);
    out = EVP_PKEY_new();
    EVP_PKEY_set1_EC_KEY(out, ec);
    EC_POINT_free(pt); EC_KEY_free(ec); EVP_PKEY_free(params);
    return out;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    unsigned char *raw_cvca, *raw_dv, *raw_term;
    long l_cvca, l_dv, l_term, ops = 0;
    CVC_CERT *cvca, *dv, *term;
    EVP_PKEY *key;
    double secs = 2, start, t;
    int nid, sign;

    if (argc < 5 || (strcmp(argv[1], "verify") && strcmp(argv[1], "sign"))) {
        fprintf(stderr, "usage: cvcbench verify CVCA DV TERMINAL [SECONDS] | sign CVCA DV TERMINAL DV.pkcs8 [SECONDS]\n");
        return 2;
    }
    sign = strcmp(argv[1], "sign") == 0;
    EAC_init();
    cvca = cert(argv[2], &raw_cvca, &l_cvca);
    dv = cert(argv[3], &raw_dv, &l_dv);
    term = cert(argv[4], &raw_term, &l_term);
    nid = OBJ_obj2nid(dv->body->public_key->oid);
    if (sign) {
        long kl;
        unsigned char *kb;
        const unsigned char *p;
        if (argc < 6) { fprintf(stderr, "sign needs the DV key\n"); return 2; }
        kb = slurp(argv[5], &kl);
        p = kb;
        key = d2i_AutoPrivateKey(NULL, &p, kl);
        if (!key) { fprintf(stderr, "%s: not a DER private key\n", argv[5]); return 2; }
        if (argc > 6) secs = atof(argv[6]);
    } else {
        key = dv_key(cvca, dv);
        if (argc > 5) secs = atof(argv[5]);
        if (CVC_verify_signature(term, nid, key) != 1) { fprintf(stderr, "terminal certificate does not verify\n"); return 1; }
    }
    start = now();
    do {
        for (int i = 0; i < 20; i++) {
            if (sign) {
                unsigned char *body = NULL, *whole = NULL;
                int bl = i2d_CVC_CERT_BODY(term->body, &body);
                BUF_MEM data = { (size_t) bl, (char *) body, (size_t) bl, 0 };
                BUF_MEM *sig = EAC_sign(nid, key, &data);
                if (bl <= 0 || !sig) { fprintf(stderr, "sign failed\n"); return 1; }
                if (i2d_CVC_CERT(term, &whole) <= 0) { fprintf(stderr, "encode failed\n"); return 1; }
                BUF_MEM_free(sig); OPENSSL_free(body); OPENSSL_free(whole);
            } else {
                const unsigned char *p = raw_term;
                CVC_CERT *c = NULL;
                if (!CVC_d2i_CVC_CERT(&c, &p, l_term) || CVC_verify_signature(c, nid, key) != 1) { fprintf(stderr, "verify failed\n"); return 1; }
                CVC_CERT_free(c);
            }
        }
        ops += 20;
        t = now() - start;
    } while (t < secs);
    printf("openpace %s %s %.0f\n", sign ? "encode+sign" : "decode+verify", OBJ_nid2sn(nid), ops / t);
    return 0;
}
