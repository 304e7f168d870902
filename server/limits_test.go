package server

import (
	"net"
	"testing"
	"time"
)

// The listener hands out at most n connections; a closed one frees its slot (once, however
// often it is closed).
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := LimitListener(inner, 2)
	defer l.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted while two are open")
	case <-time.After(100 * time.Millisecond): // nothing may arrive; not a synchronisation
	}
	first.Close()
	first.Close() // a second Close must not free another slot
	third := <-accepted
	defer second.Close()
	defer third.Close()
	c4, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	select {
	case <-accepted:
		t.Fatal("a fourth connection was accepted: the double Close freed two slots")
	case <-time.After(100 * time.Millisecond):
	}
	_ = clients
}
