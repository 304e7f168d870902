package server

import (
	"fmt"

	"eacgate/msg"
)

// MessageFrom reads a generated request value (as a Protocol's NewRequest returns it) of any
// protocol this gateway speaks into a msg.Message of operation op, with the adapters
// tools/wsdlgen generated for its package.
func MessageFrom(op string, v any) msg.Message {
	for _, p := range allProtocols() {
		if m, ok := p.MessageFrom(v); ok {
			m.Operation = op
			return m
		}
	}
	return msg.Message{Operation: op}
}

// FillResponse writes an msg.Answer into a generated response value (as a Protocol's
// NewResponse returns it) of any protocol this gateway speaks. The return code is written as
// it is; Endpoint maps it into the operation's enumeration (CodeFor) before.
func FillResponse(resp any, a msg.Answer) error {
	for _, p := range allProtocols() {
		if p.FillResponse(resp, a) {
			return nil
		}
	}
	return fmt.Errorf("server: %T is no response of a protocol this gateway speaks", resp)
}

func allProtocols() []Protocol {
	var all []Protocol
	for _, list := range [][]Protocol{CVCAProtocols, DVProtocols, SPOCProtocols} {
		all = append(all, list...)
	}
	return all
}
