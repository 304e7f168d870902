package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// keepAliveConn posts SOAP requests over one kept-alive HTTPS connection, writing the request
// and reading the response in the caller's goroutine. net/http's client hands every request
// to two goroutines of its own (a connection's writer and reader); on a machine shared with
// the gateway under test, those scheduler round trips are CPU the gateway does not get. The
// timed renewals use this client; everything else uses net/http. A connection is used by one
// goroutine at a time (a terminal's).
type keepAliveConn struct {
	tls     *tls.Config
	timeout time.Duration
	addr    string // host:port
	host    string // Host header
	path    string
	conn    *tls.Conn
	r       *bufio.Reader
	w       bytes.Buffer
}

func newKeepAliveConn(rawURL string, cfg *tls.Config, timeout time.Duration) (*keepAliveConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" {
		return nil, fmt.Errorf("load: %q is not an https URL", rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	cfg.NextProtos = []string{"http/1.1"}
	return &keepAliveConn{tls: cfg, timeout: timeout, addr: addr, host: u.Host, path: u.RequestURI()}, nil
}

// post sends body and returns the response's status and body. Any error closes the
// connection. A request that fails on a connection used before is sent once more on a new
// one (the server may have closed it as idle): renewals carry a messageID, so a repeat of one
// the gateway did process is answered as before, not issued twice.
func (k *keepAliveConn) post(ctx context.Context, body []byte) (int, []byte, error) {
	reused := k.conn != nil
	status, b, err := k.roundTrip(ctx, body)
	if err != nil {
		k.close()
		if reused && ctx.Err() == nil {
			status, b, err = k.roundTrip(ctx, body)
			if err != nil {
				k.close()
			}
		}
	}
	return status, b, err
}

func (k *keepAliveConn) roundTrip(ctx context.Context, body []byte) (int, []byte, error) {
	if k.conn == nil {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: k.timeout}, Config: k.tls}
		c, err := d.DialContext(ctx, "tcp", k.addr)
		if err != nil {
			return 0, nil, err
		}
		k.conn, k.r = c.(*tls.Conn), bufio.NewReaderSize(c, 16<<10)
	}
	deadline := time.Now().Add(k.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := k.conn.SetDeadline(deadline); err != nil {
		return 0, nil, err
	}
	k.w.Reset()
	k.w.WriteString("POST " + k.path + " HTTP/1.1\r\nHost: " + k.host +
		"\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"\"\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n")
	k.w.Write(body)
	if _, err := k.conn.Write(k.w.Bytes()); err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(k.r, nil)
	if err != nil {
		return 0, nil, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return 0, nil, err
	}
	if resp.Close {
		k.close()
	}
	return resp.StatusCode, b, nil
}

func (k *keepAliveConn) close() {
	if k.conn != nil {
		_ = k.conn.Close()
		k.conn, k.r = nil, nil
	}
}
