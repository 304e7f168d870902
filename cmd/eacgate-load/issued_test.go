package main

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"eacgate/server"
)

// issuedBy reads the count from the gateway's real /metrics exposition.
func TestIssuedByReadsMetrics(t *testing.T) {
	m := server.NewMetrics(nil)
	for range 3 {
		m.Observe("dv", "RequestCertificate", "ok_cert_available", time.Millisecond)
	}
	m.Observe("dv", "RequestCertificate", "failure_syntax", time.Millisecond)
	srv := httptest.NewServer(m)
	defer srv.Close()
	n, err := issuedBy(context.Background(), srv.Client(), srv.URL)
	if err != nil || n != 3 {
		t.Fatalf("issuedBy: %d, %v; want 3", n, err)
	}
}
