package soapenc

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

func TestBase64Binary(t *testing.T) {
	all := make(Base64Binary, 256)
	for i := range all {
		all[i] = byte(i)
	}
	type doc struct {
		XMLName xml.Name       `xml:"d"`
		B       Base64Binary   `xml:"b"`
		L       []Base64Binary `xml:"l"`
	}
	out, err := xml.Marshal(doc{B: all, L: []Base64Binary{{0}, {0xff, 0xfe}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "<b>"+all.String()+"</b><l>AA==</l><l>//4=</l>") {
		t.Fatalf("marshal: %s", out)
	}
	var back doc
	if err := xml.Unmarshal(out, &back); err != nil || !bytes.Equal(back.B, all) || len(back.L) != 2 || !bytes.Equal(back.L[1], []byte{0xff, 0xfe}) {
		t.Fatalf("unmarshal: %v %+v", err, back)
	}
	var b Base64Binary
	if err := b.UnmarshalText([]byte(" AA\r\nEC\tAw== ")); err != nil || !bytes.Equal(b, []byte{0, 1, 2, 3}) {
		t.Errorf("whitespace: %v %x", err, b)
	}
	if err := b.UnmarshalText([]byte("AA-_")); err == nil {
		t.Error("URL alphabet accepted")
	}
}

func TestEncodeRPC(t *testing.T) {
	type inner struct {
		X string `xml:"urn:bt x"`
	}
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	var nilPtr *inner
	err := EncodeRPC(e, "urn:p", "Op", Part{"a", "v"}, Part{"b", nilPtr}, Part{"c", &inner{X: "y"}}, Part{"d", Base64Binary(nil)})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Flush()
	want := `<ns1:Op xmlns:ns1="urn:p"><a xmlns="">v</a><b xmlns=""></b><c xmlns=""><x xmlns="urn:bt">y</x></c><d xmlns=""></d></ns1:Op>`
	if buf.String() != want {
		t.Errorf("got  %s\nwant %s", buf.String(), want)
	}
	if err := EncodeRPC(xml.NewEncoder(&buf), "", "Op"); err == nil {
		t.Error("empty namespace accepted")
	}
}
