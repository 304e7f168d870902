package console

import (
	"errors"
	"net/http"

	"eacgate/store"
)

// Sizes of the CA hierarchy page: it names every CA but only the first terminals of each
// DV (a DV may have 100,000; the holders page lists them all).
const (
	hierarchyDVs        = 50
	hierarchyTerminals  = 10
	hierarchyForeignDVs = 50
	hierarchyPerPartner = 5
)

// hierarchyData is the CA hierarchy's data.
type hierarchyData struct {
	// Chain is our CVCA's certificates, oldest first: self-signed ones and link
	// certificates (CAR is the previous CHR).
	Chain []store.Certificate
	// DVs are the domestic DVs (DVTotal of them) with their terminals.
	DVs     []store.DomesticDV
	DVTotal int64
	// Partners are the other countries' CVCAs with our DV's certificates from them.
	Partners   []store.PartnerCVCA
	OurDV      *store.Holder
	PerPartner int
	// ForeignDVs are the foreign DVs' certificates our CVCA signed (ForeignDVTotal).
	ForeignDVs     []store.Certificate
	ForeignDVTotal int64
}

func (h *Handler) hierarchy(r *request) error {
	ctx := r.Context()
	d := hierarchyData{PerPartner: hierarchyPerPartner}
	var err error
	if d.Chain, err = h.Store.CVCAChain(ctx, h.Country); err != nil {
		return err
	}
	for i := range d.Chain {
		d.Chain[i].Raw = nil
	}
	if d.DVs, d.DVTotal, err = h.Store.DomesticDVs(ctx, hierarchyDVs, hierarchyTerminals); err != nil {
		return err
	}
	var dvID int64
	if h.DVMnemonic != "" {
		dv, err := h.Store.HolderByName(ctx, h.Country, h.DVMnemonic)
		switch {
		case err == nil:
			d.OurDV, dvID = dv, dv.ID
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
	}
	if d.Partners, err = h.Store.PartnerCVCAs(ctx, h.Country, dvID, hierarchyPerPartner); err != nil {
		return err
	}
	if d.ForeignDVs, d.ForeignDVTotal, err = h.Store.ForeignDVsCertified(ctx, h.Country, hierarchyForeignDVs); err != nil {
		return err
	}
	return r.render(http.StatusOK, "hierarchy", "CA hierarchy", "hierarchy", d)
}
