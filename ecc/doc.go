// Package ecc is ECDSA over the elliptic curves of BSI TR-03110: NIST P-224, P-256, P-384
// and P-521, and brainpoolP192r1, P224r1, P256r1, P320r1, P384r1 and P512r1 (RFC 5639), behind
// one API.
//
// NIST curves are delegated to crypto/ecdsa. Brainpool curves are implemented here, without
// crypto/elliptic's deprecated generic code (which assumes a = -3 and does not work for
// brainpool) and without math/big on secret data:
//
//   - Field and scalar arithmetic are Montgomery multiplication (CIOS) on fixed-size arrays
//     of 64-bit limbs with math/bits; additions, subtractions and reductions select results
//     with masks rather than branches; inversion is Fermat's little theorem. The limb count
//     is the only thing that varies, and it is public.
//   - Points are projective and added with the complete formulas of Renes, Costello and
//     Batina (2015, Algorithm 1 for general a): no exceptional cases, so no value-dependent
//     branches. Signing multiplies the base point with a fixed-base comb (one
//     precomputed table of 16 multiples per 4-bit digit, built on first use): one addition
//     per digit, and every lookup reads all 16 entries. Other constant-time multiplications
//     use a fixed 4-bit window. Verification (public data only) interleaves u1*G and u2*Q with one chain
//     of doublings and variable-time lookups.
//   - Nonces are hedged: HMAC-SHA-512 keyed with the private key over the digest and fresh
//     randomness (see PrivateKey.SignRS).
//
// Keys are immutable after creation and safe for concurrent use.
package ecc
