package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"eacgate/cvc"
	"eacgate/ecc"
	"eacgate/generated/dv11"
	"eacgate/msg"
	"eacgate/server"
	"eacgate/store"
)

// terminal is one registered inspection system: its TLS identity and its certificate chain
// as it renews. A terminal is driven by one goroutine at a time.
type terminal struct {
	mnemonic string
	holderID int64
	client   *http.Client
	// conns are the kept-alive connections of the timed renewals, by gateway URL.
	conns map[string]*keepAliveConn
	// The current certificate's CHR and key (set by the initial request); seq numbers the
	// next request's CHR.
	currentCHR string
	currentKey *ecc.PrivateKey
	seq        int
	sent       int // requests sent, numbering the messageIDs
	// pregenerated renewals, in order (--requests); broken after a failure, since the
	// following requests are authenticated by a certificate that was not issued.
	queue  [][]byte
	broken bool
}

// target is the DV endpoint and what GetCACertificates told about it.
type target struct {
	urls   []string // .../dv of each gateway
	dvCHR  string
	domain *ecc.Curve
	next   atomic.Uint64
}

func (t *target) url() string {
	return t.urls[int(t.next.Add(1)-1)%len(t.urls)]
}

// chr is the holder reference with sequence number n (base 36, five characters).
func (t *terminal) chr(country string, n int) string {
	s := strings.ToUpper(strconv.FormatInt(int64(n), 36))
	return country + t.mnemonic + strings.Repeat("0", 5-len(s)) + s
}

// envelope is a TR-03129 v1.1 SOAP 1.1 request, built by hand as a terminal's client would.
func envelope(op, messageID string, certReq []byte) []byte {
	var b bytes.Buffer
	b.Grow(512 + base64.StdEncoding.EncodedLen(len(certReq)))
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><n1:`)
	b.WriteString(op)
	b.WriteString(` xmlns:n1="` + dv11.Namespace + `"><callbackIndicator>callback_not_possible</callbackIndicator>`)
	if messageID == "" {
		b.WriteString(`<messageID/>`)
	} else {
		b.WriteString(`<messageID><b:messageID xmlns:b="uri:eacBT/1.1">` + messageID + `</b:messageID></messageID>`)
	}
	b.WriteString(`<responseURL/>`)
	if certReq != nil {
		b.WriteString(`<certReq>` + base64.StdEncoding.EncodeToString(certReq) + `</certReq>`)
	}
	b.WriteString(`</n1:` + op + `></soapenv:Body></soapenv:Envelope>`)
	return b.Bytes()
}

// post sends a timed renewal over the terminal's kept-alive connection to url.
func (t *terminal) post(ctx context.Context, url string, body []byte) (msg.Answer, error) {
	k := t.conns[url]
	if k == nil {
		tr := t.client.Transport.(*http.Transport)
		var err error
		if k, err = newKeepAliveConn(url, tr.TLSClientConfig, t.client.Timeout); err != nil {
			return msg.Answer{}, err
		}
		if t.conns == nil {
			t.conns = map[string]*keepAliveConn{}
		}
		t.conns[url] = k
	}
	status, b, err := k.post(ctx, body)
	if err != nil {
		return msg.Answer{}, err
	}
	return answerOf(status, "RequestCertificate", b)
}

// closeConns closes the kept-alive connections.
func (t *terminal) closeConns() {
	for _, k := range t.conns {
		k.close()
	}
}

// answerOf decodes a SOAP answer to op that came with HTTP status.
func answerOf(status int, op string, b []byte) (msg.Answer, error) {
	if status != http.StatusOK {
		return msg.Answer{}, fmt.Errorf("HTTP %d: %.200s", status, b)
	}
	return server.DecodeResponse(server.DVProtocols[0], op, b)
}

// call posts one SOAP request and decodes the answer.
func call(ctx context.Context, c *http.Client, url, op string, body []byte) (msg.Answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return msg.Answer{}, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("SOAPAction", `""`)
	resp, err := c.Do(req)
	if err != nil {
		return msg.Answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return msg.Answer{}, err
	}
	return answerOf(resp.StatusCode, op, b)
}

// newTerminals makes n TLS identities with fresh mnemonics (a random run tag, so that runs
// against the same database do not collide).
func newTerminals(n int, rootCAs *x509.CertPool, insecure bool) ([]*terminal, error) {
	var tag [2]byte
	_, _ = rand.Read(tag[:])
	run := strings.ToUpper(strconv.FormatInt(int64(tag[0])<<8|int64(tag[1]), 36)) // up to 4 characters
	run = strings.Repeat("0", 4-len(run)) + run
	terms := make([]*terminal, n)
	for i := range terms {
		mnemonic := fmt.Sprintf("L%s%03d", run, i)
		if i >= 1000 {
			mnemonic = fmt.Sprintf("L%s%04d", run[1:], i)
		}
		certPEM, keyPEM, err := server.SelfSignedCertificate("eacgate-load "+mnemonic, []string{"terminal.invalid"}, 24*time.Hour)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		terms[i] = &terminal{mnemonic: mnemonic, client: &http.Client{
			Timeout: 60 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: rootCAs, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12},
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     time.Minute,
			},
		}}
	}
	return terms, nil
}

// register stores the terminals as holders of the given country.
func register(ctx context.Context, st *store.Store, country string, terms []*terminal) error {
	for _, t := range terms {
		tr := t.client.Transport.(*http.Transport)
		sum := sha256.Sum256(tr.TLSClientConfig.Certificates[0].Certificate[0])
		h := &store.Holder{Country: country, Mnemonic: t.mnemonic, Role: store.RoleTerminal, Status: store.HolderActive, TLSFingerprint: hex.EncodeToString(sum[:])}
		if err := st.CreateHolder(ctx, h); err != nil {
			return fmt.Errorf("register terminal %s%s: %w", country, t.mnemonic, err)
		}
		t.holderID = h.ID
	}
	return nil
}

// discover asks the first gateway for its CA chain: the DV's CHR and the domain parameters.
func discover(ctx context.Context, c *http.Client, urls []string) (*target, error) {
	a, err := call(ctx, c, urls[0], "GetCACertificates", envelope("GetCACertificates", "", nil))
	if err != nil {
		return nil, fmt.Errorf("GetCACertificates: %w", err)
	}
	if a.ReturnCode != "ok_cert_available" || len(a.Certificates) == 0 {
		return nil, fmt.Errorf("GetCACertificates: %s", a.ReturnCode)
	}
	var path []*cvc.Certificate
	for _, raw := range a.Certificates {
		cert, err := cvc.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("GetCACertificates: %w", err)
		}
		path = append(path, cert)
	}
	dv := path[len(path)-1]
	if !dv.Role().IsDV() {
		return nil, fmt.Errorf("GetCACertificates: last certificate %s is not a DV's", dv.CHR)
	}
	domain := cvc.Domain(path)
	if domain == nil {
		return nil, errors.New("the DV's keys are not EC: eacgate-load drives ECDSA only")
	}
	return &target{urls: urls, dvCHR: dv.CHR, domain: domain}, nil
}

// request makes terminal t's next request: a new key, CHR with the next sequence number,
// and (after the first) the outer signature by the current key. It advances t as if the
// request succeeded.
func (t *terminal) request(tg *target, country string) ([]byte, *ecc.PrivateKey, string, error) {
	key, err := ecc.GenerateKey(tg.domain, rand.Reader)
	if err != nil {
		return nil, nil, "", err
	}
	pub, err := cvc.NewPublicKey(cvc.ECDSA_SHA256, key.Public(), true)
	if err != nil {
		return nil, nil, "", err
	}
	chr := t.chr(country, t.seq)
	r, err := cvc.NewRequest(cvc.RequestTemplate{CAR: tg.dvCHR, CHR: chr}, pub, key)
	if err != nil {
		return nil, nil, "", err
	}
	if t.currentKey != nil {
		if r, err = r.Authenticate(t.currentCHR, t.currentKey, cvc.ECDSA_SHA256); err != nil {
			return nil, nil, "", err
		}
	}
	return r.Raw, key, chr, nil
}

// stats collects the outcome of the timed renewals.
type stats struct {
	mu        sync.Mutex
	latencies []time.Duration
	codes     map[string]int
	issued    []string // CHRs of the certificates received
}

func (s *stats) add(d time.Duration, code, chr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code]++
	if code == "ok_cert_available" {
		s.latencies = append(s.latencies, d)
		s.issued = append(s.issued, chr)
	}
}

// send posts one RequestCertificate for t and checks the certificate it gets.
func send(ctx context.Context, tg *target, t *terminal, runTag, wantCHR string, raw []byte) (code string, err error) {
	t.sent++
	id := fmt.Sprintf("%s-%s-%d", runTag, t.mnemonic, t.sent)
	a, err := t.post(ctx, tg.url(), envelope("RequestCertificate", id, raw))
	if err != nil {
		if ctx.Err() != nil {
			return "cancelled", err
		}
		if errors.Is(err, server.ErrPeer) {
			return "fault", err
		}
		return "transport_error", err
	}
	code = string(a.ReturnCode)
	if code != "ok_cert_available" {
		return code, nil
	}
	if len(a.Certificates) != 1 {
		return "bad_answer", fmt.Errorf("%d certificates in the answer", len(a.Certificates))
	}
	cert, err := cvc.ParseCertificate(a.Certificates[0])
	if err != nil || cert.CHR != wantCHR || cert.CAR != tg.dvCHR {
		return "bad_answer", fmt.Errorf("issued certificate: %v (CHR %v)", err, wantCHR)
	}
	return code, nil
}

// initial gets every terminal its first certificate (not timed).
func initial(ctx context.Context, tg *target, terms []*terminal, country, runTag string, parallel int, st *stats) error {
	sem := make(chan struct{}, parallel)
	errc := make(chan error, len(terms))
	var wg sync.WaitGroup
	for _, t := range terms {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			raw, key, chr, err := t.request(tg, country)
			if err == nil {
				var code string
				code, err = send(ctx, tg, t, runTag, chr, raw)
				st.add(0, code, chr)
				if err == nil && code != "ok_cert_available" {
					err = fmt.Errorf("initial request of %s: %s", chr, code)
				}
			}
			if err != nil {
				errc <- err
				return
			}
			t.currentCHR, t.currentKey, t.seq = chr, key, t.seq+1
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// pregenerate makes each terminal's renewals for --requests up front, spread evenly.
func pregenerate(tg *target, terms []*terminal, country string, total, parallel int) error {
	var wg sync.WaitGroup
	errc := make(chan error, len(terms))
	sem := make(chan struct{}, parallel)
	for i, t := range terms {
		n := total / len(terms)
		if i < total%len(terms) {
			n++
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// Work on a copy: the chain is advanced only when the requests are answered.
			sim := *t
			for range n {
				raw, key, chr, err := sim.request(tg, country)
				if err != nil {
					errc <- err
					return
				}
				t.queue = append(t.queue, raw)
				sim.currentCHR, sim.currentKey, sim.seq = chr, key, sim.seq+1
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// drive runs the renewals: concurrency workers, each owning every concurrency-th terminal
// and renewing them in turn, until the duration is over or the pregenerated requests are
// used up. It returns the time the renewals took.
func drive(ctx context.Context, cfg config, tg *target, terms []*terminal, country, runTag string, st *stats, log *slog.Logger) time.Duration {
	// Requests in flight at the deadline are completed, not cancelled: a cancelled request
	// may still be processed, and the database check would count it.
	deadline := time.Now().Add(cfg.duration)
	var wg sync.WaitGroup
	var logged atomic.Int32
	start := time.Now()
	for w := range cfg.concurrency {
		var mine []*terminal
		for i := w; i < len(terms); i += cfg.concurrency {
			mine = append(mine, terms[i])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
				t := mine[i%len(mine)]
				if cfg.requests > 0 && allDone(mine) {
					return
				}
				if t.broken || (cfg.requests > 0 && len(t.queue) == 0) {
					continue
				}
				var raw []byte
				var key *ecc.PrivateKey
				chr := t.chr(country, t.seq)
				if cfg.requests > 0 {
					raw, t.queue = t.queue[0], t.queue[1:]
				} else {
					var err error
					if raw, key, chr, err = t.request(tg, country); err != nil {
						log.Error("make request", "err", err)
						return
					}
				}
				t0 := time.Now()
				code, err := send(ctx, tg, t, runTag, chr, raw)
				d := time.Since(t0)
				if code == "cancelled" {
					return
				}
				st.add(d, code, chr)
				if err != nil && logged.Add(1) <= 5 {
					log.Warn("request failed", "terminal", t.mnemonic, "code", code, "err", err)
				}
				switch {
				case code == "ok_cert_available":
					t.currentCHR, t.seq = chr, t.seq+1
					if key != nil {
						t.currentKey = key
					}
				case cfg.requests > 0:
					t.broken = true // the rest of its chain is signed by a key never certified
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func allDone(ts []*terminal) bool {
	for _, t := range ts {
		if !t.broken && len(t.queue) > 0 {
			return false
		}
	}
	return true
}

// verifyStore checks in the database that nothing was lost or doubled: every certificate
// the terminals received is stored exactly once, no CHR twice, and every request message is
// answered (once: the messageID is unique per originator).
func verifyStore(ctx context.Context, st *store.Store, terms []*terminal, issued []string) (string, error) {
	ids := make([]int64, len(terms))
	for i, t := range terms {
		ids[i] = t.holderID
	}
	var rows []struct {
		CHR string
		N   int64
	}
	db := st.DB().WithContext(ctx)
	if err := db.Table("certificates").Select("chr, COUNT(*) AS n").Where("holder_id IN ?", ids).Group("chr").Scan(&rows).Error; err != nil {
		return "", fmt.Errorf("verify: %w", err)
	}
	stored := make(map[string]int64, len(rows))
	var total int64
	for _, r := range rows {
		stored[r.CHR] = r.N
		total += r.N
		if r.N != 1 {
			return "", fmt.Errorf("verify: certificate %s stored %d times", r.CHR, r.N)
		}
	}
	for _, chr := range issued {
		if stored[chr] != 1 {
			return "", fmt.Errorf("verify: certificate %s was answered but is stored %d times", chr, stored[chr])
		}
	}
	if total != int64(len(issued)) {
		return "", fmt.Errorf("verify: %d certificates stored for the terminals, %d answered", total, len(issued))
	}
	originators := make([]string, len(terms))
	for i, t := range terms {
		originators[i] = "holder:" + strconv.FormatInt(t.holderID, 10)
	}
	var msgs []struct {
		State string
		N     int64
	}
	if err := db.Table("messages").Select("state, COUNT(*) AS n").Where("originator IN ?", originators).Group("state").Scan(&msgs).Error; err != nil {
		return "", fmt.Errorf("verify: %w", err)
	}
	var answered, other int64
	for _, m := range msgs {
		if m.State == string(store.MessageAnswered) {
			answered += m.N
		} else {
			other += m.N
		}
	}
	if other != 0 {
		return "", fmt.Errorf("verify: %d request messages not answered", other)
	}
	return fmt.Sprintf("ok: %d certificates stored once each, no CHR twice, %d request messages all answered", total, answered), nil
}

// serverPool trusts the PEM file's certificates.
func serverPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("server CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("server CA: no PEM certificate in %s", file)
	}
	return pool, nil
}
