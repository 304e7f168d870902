package admin

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
)

// The CMS (RFC 5652) structures the emCA signature uses: an attached SignedData whose
// encapsulated content is the certificate serial.
var (
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     []byte `asn1:"explicit,optional,tag:0"`
}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type signerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    algorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm algorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue
}

// errSignature is every reason a signature does not verify.
var errSignature = errors.New("signature verification failed")

// verifySignedData checks a DER CMS SignedData (attached content) with the public key of
// cert and returns the signed content. One signer; SHA-256/384/512; ECDSA or RSA PKCS #1
// v1.5; with signed attributes the messageDigest attribute must match the content.
func verifySignedData(der []byte, cert *x509.Certificate) ([]byte, error) {
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) != 0 || !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("%w: not a CMS SignedData", errSignature)
	}
	var sd signedData
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: SignedData: %v", errSignature, err)
	}
	if len(sd.SignerInfos) != 1 || sd.EncapContentInfo.EContent == nil {
		return nil, fmt.Errorf("%w: need one signer and attached content", errSignature)
	}
	si := sd.SignerInfos[0]
	hashFn, h, err := digest(si.DigestAlgorithm.Algorithm)
	if err != nil {
		return nil, err
	}
	content := sd.EncapContentInfo.EContent
	signed := content
	if len(si.SignedAttrs.FullBytes) > 0 {
		var attrs []attribute
		if _, err := asn1.UnmarshalWithParams(si.SignedAttrs.FullBytes, &attrs, "set,tag:0"); err != nil {
			return nil, fmt.Errorf("%w: signed attributes: %v", errSignature, err)
		}
		h.Write(content)
		want := h.Sum(nil)
		found := false
		for _, a := range attrs {
			if !a.Type.Equal(oidMessageDigest) {
				continue
			}
			var set []asn1.RawValue
			if _, err := asn1.UnmarshalWithParams(a.Values.FullBytes, &set, "set"); err != nil || len(set) != 1 {
				return nil, fmt.Errorf("%w: messageDigest attribute", errSignature)
			}
			found = bytes.Equal(set[0].Bytes, want)
		}
		if !found {
			return nil, fmt.Errorf("%w: messageDigest does not match the content", errSignature)
		}
		// The signature covers the attributes' DER with the SET tag, not the [0] tag.
		signed = append([]byte{0x31}, si.SignedAttrs.FullBytes[1:]...)
		h.Reset()
	}
	h.Write(signed)
	sum := h.Sum(nil)
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, sum, si.Signature) {
			return nil, errSignature
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, hashFn, sum, si.Signature); err != nil {
			return nil, errSignature
		}
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T", errSignature, cert.PublicKey)
	}
	return content, nil
}

func digest(oid asn1.ObjectIdentifier) (crypto.Hash, hash.Hash, error) {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, sha256.New(), nil
	case oid.Equal(oidSHA384):
		return crypto.SHA384, sha512.New384(), nil
	case oid.Equal(oidSHA512):
		return crypto.SHA512, sha512.New(), nil
	}
	return 0, nil, fmt.Errorf("%w: digest algorithm %v not supported", errSignature, oid)
}
