package gateway

import (
	"context"
	"errors"
	"strconv"

	"eacgate/cvc"
	"eacgate/cvca"
	"eacgate/hsm"
	"eacgate/ops"
)

// KeySpec is the key of a new CVCA (role "cvca"), DV ("dv") or CVCA rollover ("rollover")
// from the command's names: ECDSA_SHA_256 on brainpoolP256r1 for a new CVCA unless given;
// without an algorithm a DV follows its CVCA and a rollover keeps the current key's.
func KeySpec(role, algName, curve string, rsaBits int) (hsm.KeySpec, error) {
	var spec hsm.KeySpec
	if algName == "" && role != "cvca" {
		return spec, nil
	}
	if algName == "" {
		algName = "ECDSA_SHA_256"
	}
	alg, err := cvc.ParseAlgorithm(algName)
	if err != nil {
		return spec, err
	}
	spec = hsm.KeySpec{Algorithm: alg, RSABits: rsaBits}
	if alg.IsECDSA() {
		spec = hsm.KeySpec{Algorithm: alg, Curve: curve}
		if spec.Curve == "" && role != "rollover" { // a rollover keeps the current curve
			spec.Curve = "brainpoolP256r1"
		}
	}
	return spec, nil
}

// KeyOperations runs the CVCA key operations approved under the two-person principle
// (ops.KeyOperations) with this gateway's CVCA.
func (g *Gateway) KeyOperations() ops.KeyOperations { return keyOperations{g} }

// keyOperations is ops.KeyOperations over the gateway's CVCA: the approved proposal's
// proposer and witnesses go into the key operation's audit events (cvca.Ceremony).
type keyOperations struct{ g *Gateway }

var errNotCVCA = errors.New("gateway: this gateway has no CVCA")

// ceremonyOf is the cvca.Ceremony of an approved key operation.
func ceremonyOf(c ops.KeyCeremony) cvca.Ceremony {
	by := cvca.Ceremony{Actor: c.Actor.String(), Source: c.Actor.Remote, Proposer: c.Proposer, Witnesses: c.Witnesses}
	if c.Proposal != 0 {
		by.ProposalID = strconv.FormatInt(c.Proposal, 10)
	}
	return by
}

func (k keyOperations) InitCVCA(ctx context.Context, c ops.KeyCeremony, p ops.CVCAKeyParams) (*cvc.Certificate, error) {
	if k.g.cvca == nil {
		return nil, errNotCVCA
	}
	spec, err := KeySpec("cvca", p.Alg, p.Curve, p.RSABits)
	if err != nil {
		return nil, err
	}
	return k.g.InitCVCA(ctx, ceremonyOf(c), p.CHR, spec, p.Years)
}

func (k keyOperations) RolloverCVCA(ctx context.Context, c ops.KeyCeremony, p ops.CVCAKeyParams) (*cvc.Certificate, error) {
	if k.g.cvca == nil {
		return nil, errNotCVCA
	}
	spec, err := KeySpec("rollover", p.Alg, p.Curve, p.RSABits)
	if err != nil {
		return nil, err
	}
	return k.g.RolloverCVCA(ctx, ceremonyOf(c), p.CHR, spec, p.Years)
}
