package admin

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"eacgate/internal/testenv"
	"eacgate/store"
)

// signer is a client signing identity: key and certificate as PEM files for openssl.
type signer struct {
	cert         *x509.Certificate
	certPEM, key string
}

func newSigner(t *testing.T) signer {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "emca client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	dir := t.TempDir()
	s := signer{cert: cert, certPEM: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	os.WriteFile(s.certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(s.key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return s
}

// sign makes the CMS SignedData over the serial with openssl, as the README says.
func (s signer) sign(t *testing.T, serial string) []byte {
	t.Helper()
	openssl := testenv.Tool(t, "openssl")
	in := filepath.Join(t.TempDir(), "serial.txt")
	os.WriteFile(in, []byte(serial), 0o600)
	out, err := exec.Command(openssl, "cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-in", in,
		"-signer", s.certPEM, "-inkey", s.key, "-outform", "DER").Output()
	if err != nil {
		t.Fatalf("openssl cms: %v", err)
	}
	return out
}

// emcaCall is the README's client: requestData = base64(nonce || AES-256-GCM(plain)) with
// "<action>:<emKey>" as additional data.
func emcaCall(t *testing.T, base, action, emKey string, key []byte, outerUser string, plain map[string]any) EMCAResponse {
	t.Helper()
	return emcaPost(t, base, action, emKey, emcaBody(action, emKey, key, outerUser, plain))
}

// emcaBody is the JSON body of a request, its requestData sealed with a fresh nonce.
func emcaBody(action, emKey string, key []byte, outerUser string, plain map[string]any) []byte {
	pb, _ := json.Marshal(plain)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	rand.Read(nonce)
	sealed := gcm.Seal(nonce, nonce, pb, []byte(action+":"+emKey))
	body, _ := json.Marshal(map[string]string{"requestData": base64.StdEncoding.EncodeToString(sealed), "userName": outerUser})
	return body
}

// emcaPost posts a request body and checks the response's shape.
func emcaPost(t *testing.T, base, action, emKey string, body []byte) EMCAResponse {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/emCAServices/rest/"+action, bytes.NewReader(body))
	req.Header.Set("emKey", emKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || resp.StatusCode != 200 {
		t.Fatalf("response %d: %v", resp.StatusCode, err)
	}
	if len(raw) != 5 && (len(raw) != 6 || raw["proposalId"] == nil) { // proposalId: a revocation pending approval
		t.Fatalf("response fields: %v", raw)
	}
	b, _ := json.Marshal(raw)
	var out EMCAResponse
	json.Unmarshal(b, &out)
	return out
}

func TestEMCAEndpoints(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "eacgate.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dv := &store.Holder{Country: "UT", Mnemonic: "DVX", Role: store.RoleDVDomestic, Status: store.HolderActive}
	if err := st.CreateHolder(ctx, dv); err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	ours := &store.Certificate{HolderID: &dv.ID, CHR: "UTDVX00001", CAR: "UTCVCA00001", Role: store.RoleDVDomestic,
		NotBefore: day, NotAfter: day.AddDate(0, 0, 90), Raw: []byte{0x7f, 0x21, 0}}
	foreign := &store.Certificate{HolderID: &dv.ID, CHR: "UTDVX00002", CAR: "ZZCVCA00001", Role: store.RoleDVForeign,
		NotBefore: day, NotAfter: day.AddDate(0, 0, 30), Raw: []byte{0x7f, 0x21, 1}}
	for _, c := range []*store.Certificate{ours, foreign} {
		if err := st.AddCertificate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	client, stranger := newSigner(t), newSigner(t)
	key := make([]byte, 32)
	rand.Read(key)
	hash, _ := HashPassword("s3cret")
	for _, c := range []*store.APIClient{
		{EMKey: "key-local", UserName: "ops", PasswordHash: hash, AESKey: key, Certificate: client.cert.Raw, IPRanges: "127.0.0.0/8"},
		{EMKey: "key-remote", UserName: "ops-remote", PasswordHash: hash, AESKey: key, Certificate: client.cert.Raw, IPRanges: "10.0.0.0/8"},
	} {
		if err := st.CreateAPIClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer((&Handler{Store: st, Country: "UT", TwoPerson: onePerson()}).Routes())
	defer srv.Close()

	good := func(serial string, mode int) map[string]any {
		return map[string]any{"userName": "ops", "password": "s3cret", "signature": base64.StdEncoding.EncodeToString(client.sign(t, serial)),
			"revokeMode": mode, "remarks": "test"}
	}
	status := func(id int64) store.CertStatus {
		c, err := st.CertificateByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return c.Status
	}
	wrongPassword := good("UTDVX00001", 6)
	wrongPassword["password"] = "guess"
	badSignature := good("UTDVX00001", 6)
	badSignature["signature"] = base64.StdEncoding.EncodeToString(stranger.sign(t, "UTDVX00001"))
	otherKey := make([]byte, 32)
	rand.Read(otherKey)
	for name, tc := range map[string]struct {
		emKey, user string
		key         []byte
		plain       map[string]any
		want        string
	}{
		"wrong key":      {"key-local", "ops", otherKey, good("UTDVX00001", 6), "Authentication failed"},
		"unknown emKey":  {"key-nobody", "ops", key, good("UTDVX00001", 6), "Authentication failed"},
		"wrong password": {"key-local", "ops", key, wrongPassword, "Authentication failed"},
		"wrong IP":       {"key-remote", "ops-remote", key, good("UTDVX00001", 6), "Authentication failed"},
		"user mismatch":  {"key-local", "someone", key, good("UTDVX00001", 6), "Authentication failed"},
		"bad signature":  {"key-local", "ops", key, badSignature, "Signature verification failed"},
		"unknown serial": {"key-local", "ops", key, good("UTNOBODY00001", 6), "No Data Found For UTNOBODY00001"},
		"not ours":       {"key-local", "ops", key, good("UTDVX00002", 6), "CRL does not exist"},
		"revokeMode":     {"key-local", "ops", key, good("UTDVX00001", 1), "Invalid revokeMode"},
	} {
		got := emcaCall(t, srv.URL, "suspend", tc.emKey, tc.key, tc.user, tc.plain)
		if got.Status != "failure" || got.Result != tc.want {
			t.Errorf("%s: %+v, want failure %q", name, got, tc.want)
		}
		if status(ours.ID) != store.CertValid || status(foreign.ID) != store.CertValid {
			t.Fatalf("%s changed a certificate's status", name)
		}
	}
	// A request for suspend cannot be replayed against revoke (the action is authenticated).
	pb, _ := json.Marshal(good("UTDVX00001", 6))
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	sealed := gcm.Seal(nonce, nonce, pb, []byte("suspend:key-local"))
	body, _ := json.Marshal(map[string]string{"requestData": base64.StdEncoding.EncodeToString(sealed), "userName": "ops"})
	req, _ := http.NewRequest("POST", srv.URL+"/emCAServices/rest/revoke", bytes.NewReader(body))
	req.Header.Set("emKey", "key-local")
	resp, _ := http.DefaultClient.Do(req)
	var replay EMCAResponse
	json.NewDecoder(resp.Body).Decode(&replay)
	resp.Body.Close()
	if replay.Result != "Authentication failed" || status(ours.ID) != store.CertValid {
		t.Fatalf("replayed as revoke: %+v", replay)
	}

	ok := emcaCall(t, srv.URL, "suspend", "key-local", key, "ops", good("UTDVX00001", 6))
	if ok.Status != "success" || ok.Result != "Suspended Successfully" || ok.AliasName != "UTDVX00001" || ok.SubscriberID != "UTDVX" || ok.RequestID == "" {
		t.Fatalf("suspend: %+v", ok)
	}
	if status(ours.ID) != store.CertSuspended {
		t.Fatal("not suspended")
	}
	if again := emcaCall(t, srv.URL, "suspend", "key-local", key, "ops", good("UTDVX00001", 6)); again.Result != "Certificate already suspended" || again.Status != "failure" {
		t.Fatalf("suspend again: %+v", again)
	}
	reinstate := good("UTDVX00001", 8)
	captured := emcaBody("reinstate", "key-local", key, "ops", reinstate)
	if r := emcaPost(t, srv.URL, "reinstate", "key-local", captured); r.Result != "Reinstated Successfully" || status(ours.ID) != store.CertValid {
		t.Fatalf("reinstate: %+v", r)
	}
	// A captured request sent again later does not undo the operator's next decision.
	if r := emcaCall(t, srv.URL, "suspend", "key-local", key, "ops", good("UTDVX00001", 6)); r.Result != "Suspended Successfully" {
		t.Fatalf("suspend after reinstate: %+v", r)
	}
	if r := emcaPost(t, srv.URL, "reinstate", "key-local", captured); r.Result != "Authentication failed" || status(ours.ID) != store.CertSuspended {
		t.Fatalf("replayed reinstate: %+v", r)
	}
	if r := emcaCall(t, srv.URL, "reinstate", "key-local", key, "ops", reinstate); r.Result != "Reinstated Successfully" || status(ours.ID) != store.CertValid {
		t.Fatalf("reinstate with a fresh request: %+v", r)
	}
	if r := emcaCall(t, srv.URL, "revoke", "key-local", key, "ops", good("UTDVX00001", 1)); r.Result != "Revoked Successfully" || status(ours.ID) != store.CertRevoked {
		t.Fatalf("revoke: %+v", r)
	}
	if r := emcaCall(t, srv.URL, "reinstate", "key-local", key, "ops", reinstate); r.Result != "Certificate already revoked" || status(ours.ID) != store.CertRevoked {
		t.Fatalf("reinstate after revoke: %+v", r)
	}
	events, _ := st.ListAudit(ctx, 100)
	failed, succeeded := 0, 0
	for _, e := range events {
		if e.Action == "emca.suspend" && e.Outcome == "ok" {
			succeeded++
		} else if e.Action == "emca.suspend" {
			failed++
		}
	}
	if succeeded != 2 || failed < 10 {
		t.Fatalf("audit: %d successful and %d failed suspend calls", succeeded, failed)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "correct horse") || CheckPassword(h, "correct hors") || CheckPassword("plain", "plain") {
		t.Fatal("CheckPassword")
	}
}
