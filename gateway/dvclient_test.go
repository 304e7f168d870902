package gateway

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"eacgate/config"
	"eacgate/dvclient"
)

// The gateway chooses the DV's CVCAs once, when it is wired: the CVCA in process when it
// has one, the remote CVCA at dv_client.cvca_url (its HTTP client built then, not per call)
// otherwise, and an explanation when there is no way.
func TestDVClientWiring(t *testing.T) {
	ctx := context.Background()
	g := openDemo(t, t.TempDir())
	if _, ok := g.dv.Domestic.(dvclient.InProcess); !ok {
		t.Errorf("domestic CVCA of a gateway with a CVCA: %T", g.dv.Domestic)
	}
	if u, ok := g.dv.Foreign.(dvclient.Unavailable); !ok || !errors.Is(u.Err, errNoForeignRoute) {
		t.Errorf("foreign CVCAs without a SPOC or cvca_url: %T", g.dv.Foreign)
	}

	remote, err := OpenStores(ctx, Options{DataDir: t.TempDir(), GenerateKeystorePassphrase: true,
		DVClient: config.DVClientOptions{CVCAURL: "https://cvca.example/cvca"}})
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	r, ok := remote.dv.Domestic.(*dvclient.Remote)
	if f, _ := remote.dv.Foreign.(*dvclient.Remote); !ok || f != r || r.HTTP == nil || r.URL != "https://cvca.example/cvca" {
		t.Fatalf("with dv_client.cvca_url: domestic %T, foreign %T", remote.dv.Domestic, remote.dv.Foreign)
	}

	broken, err := OpenStores(ctx, Options{DataDir: t.TempDir(), GenerateKeystorePassphrase: true,
		DVClient: config.DVClientOptions{CVCAURL: "https://cvca.example/cvca", CVCACAFile: filepath.Join(t.TempDir(), "missing.pem")}})
	if err != nil {
		t.Fatal(err)
	}
	defer broken.Close()
	if _, err := broken.FetchCVCACertificates(ctx); err == nil || !strings.Contains(err.Error(), "dv_client.cvca_ca_file") {
		t.Fatalf("a CVCA client that cannot be built: %v", err)
	}
	if u, ok := broken.dv.Domestic.(dvclient.Unavailable); !ok || !strings.Contains(u.Err.Error(), "dv_client.cvca_ca_file") {
		t.Fatalf("domestic CVCA without its HTTP client: %T", broken.dv.Domestic)
	}
}
