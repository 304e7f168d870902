// Package generated holds the Go SOAP types and clients generated from the
// WSDLs in eacgate/wsdl, one package per WSDL:
//
//	cvca11  wsdl/cvca-1.1.wsdl          CVCA interface, TR-03129 v1.1 (default)
//	cvca10  wsdl/cvca-1.0.wsdl          CVCA interface, TR-03129 v1.0
//	dv11    wsdl/dv-1.1.wsdl            DV interface, TR-03129 v1.1 (default)
//	dv10    wsdl/dv-1.0.wsdl            DV interface, TR-03129 v1.0
//	spoc    wsdl/spoc-csn369791.wsdl    SPOC interface, CSN 36 9791
//
// Nothing here is edited by hand. Regenerate with
//
//	go generate ./generated/...
//
// Each package is made in three steps: tools/wsdlgen prep writes the WSDL
// gowsdl can read (for rpc/literal WSDLs its document/literal-wrapped
// equivalent, see <pkg>/gowsdl-input.wsdl), gowsdl writes <pkg>/<pkg>.go, and
// tools/wsdlgen fix repairs what gowsdl gets wrong and writes <pkg>/rpc.go.
// wsdl/README.md explains the defects and the fixes.
package generated

//go:generate go run eacgate/tools/wsdlgen prep -in ../wsdl/cvca-1.1.wsdl -out cvca11/gowsdl-input.wsdl
//go:generate go tool gowsdl -d . -p cvca11 -o cvca11.go cvca11/gowsdl-input.wsdl
//go:generate go run eacgate/tools/wsdlgen fix -wsdl ../wsdl/cvca-1.1.wsdl -dir cvca11 -file cvca11.go

//go:generate go run eacgate/tools/wsdlgen prep -in ../wsdl/cvca-1.0.wsdl -out cvca10/gowsdl-input.wsdl
//go:generate go tool gowsdl -d . -p cvca10 -o cvca10.go cvca10/gowsdl-input.wsdl
//go:generate go run eacgate/tools/wsdlgen fix -wsdl ../wsdl/cvca-1.0.wsdl -dir cvca10 -file cvca10.go

//go:generate go run eacgate/tools/wsdlgen prep -in ../wsdl/dv-1.1.wsdl -out dv11/gowsdl-input.wsdl
//go:generate go tool gowsdl -d . -p dv11 -o dv11.go dv11/gowsdl-input.wsdl
//go:generate go run eacgate/tools/wsdlgen fix -wsdl ../wsdl/dv-1.1.wsdl -dir dv11 -file dv11.go

//go:generate go run eacgate/tools/wsdlgen prep -in ../wsdl/dv-1.0.wsdl -out dv10/gowsdl-input.wsdl
//go:generate go tool gowsdl -d . -p dv10 -o dv10.go dv10/gowsdl-input.wsdl
//go:generate go run eacgate/tools/wsdlgen fix -wsdl ../wsdl/dv-1.0.wsdl -dir dv10 -file dv10.go

//go:generate go run eacgate/tools/wsdlgen prep -in ../wsdl/spoc-csn369791.wsdl -out spoc/gowsdl-input.wsdl
//go:generate go tool gowsdl -d . -p spoc -o spoc.go spoc/gowsdl-input.wsdl
//go:generate go run eacgate/tools/wsdlgen fix -wsdl ../wsdl/spoc-csn369791.wsdl -dir spoc -file spoc.go
