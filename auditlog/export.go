package auditlog

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"eacgate/store"
)

// ExportFormat names the export's format in its header line.
const ExportFormat = "eacgate-audit-export/1"

// Line kinds of an export, in the order they come: one header, the stored checkpoints,
// the head file's checkpoint, the checkpoint signed at export time (only when the online
// verification passed), then the events.
const (
	KindHeader     = "header"
	KindCheckpoint = "checkpoint"
	KindHead       = "head"
	KindFinal      = "final"
	KindEvent      = "event"
)

// Header is the first line of an export.
type Header struct {
	Kind       string    `json:"kind"`
	Format     string    `json:"format"`
	ExportedAt time.Time `json:"exported_at"`
	SinceSeq   int64     `json:"since_seq"`
	// PublicKey is the checkpoint key (PEM), Fingerprint the hex SHA-256 of its DER.
	PublicKey   string `json:"public_key"`
	Fingerprint string `json:"fingerprint"`
	// OnlineVerification is "ok" or "FAILED: <reason>": the state of the log when exported.
	OnlineVerification string `json:"online_verification"`
}

// Checkpoint is a checkpoint line (kind checkpoint, head or final).
type Checkpoint struct {
	Kind string `json:"kind"`
	store.AuditCheckpoint
}

// Event is an event line: every field of the stored event.
type Event struct {
	Kind     string    `json:"kind"`
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Target   string    `json:"target"`
	Source   string    `json:"source"`
	Outcome  string    `json:"outcome"`
	Details  string    `json:"details"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
	MAC      string    `json:"mac"`
}

func (e Event) stored() store.AuditEvent {
	return store.AuditEvent{Seq: e.Seq, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, Source: e.Source,
		Outcome: e.Outcome, Details: e.Details, PrevHash: e.PrevHash, Hash: e.Hash, MAC: e.MAC}
}

// ExportSummary says what Export wrote.
type ExportSummary struct {
	Events int
	// Verified: the online verification passed and the export ends with a final
	// checkpoint; else Problem says why not.
	Verified bool
	Problem  string
}

// Export writes the events from seq since on (1 or less: all) as JSON lines an auditor
// verifies offline with VerifyExport. It verifies the log online first: only if that
// passes does it sign a final checkpoint of the last exported event; otherwise it still
// writes everything and the header says what failed.
func (l *Log) Export(ctx context.Context, w io.Writer, since int64) (ExportSummary, error) {
	since = max(since, 1)
	var sum ExportSummary
	rep, verr := l.Verify(ctx)
	if verr != nil && !errors.Is(verr, store.ErrAuditBroken) {
		return sum, verr
	}
	last, err := l.Store.ListAudit(ctx, 1)
	if err != nil {
		return sum, fmt.Errorf("auditlog: export: %w", err)
	}
	end := int64(0)
	if len(last) == 1 {
		end = last[0].Seq
	}
	h := Header{Kind: KindHeader, Format: ExportFormat, ExportedAt: l.now().UTC(), SinceSeq: since,
		PublicKey: l.Key.Public().PEM(), Fingerprint: l.Key.Public().Fingerprint(), OnlineVerification: "ok"}
	var final *store.AuditCheckpoint
	if verr != nil {
		h.OnlineVerification, sum.Problem = "FAILED: "+verr.Error(), verr.Error()
	} else {
		sum.Verified = true
		end = int64(rep.Events) // events appended since the verification are left for the next export
		if end >= since {
			e, err := l.Store.AuditEventAt(ctx, end)
			if err != nil {
				return sum, fmt.Errorf("auditlog: export: %w", err)
			}
			c := l.Key.Sign(e.Seq, e.Hash, l.now())
			final = &c
		}
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(h); err != nil {
		return sum, fmt.Errorf("auditlog: export: %w", err)
	}
	for after := since - 1; ; {
		cps, err := l.Store.AuditCheckpointsAfter(ctx, after, 1000)
		if err != nil {
			return sum, fmt.Errorf("auditlog: export: %w", err)
		}
		for _, c := range cps {
			if err := enc.Encode(Checkpoint{Kind: KindCheckpoint, AuditCheckpoint: c}); err != nil {
				return sum, fmt.Errorf("auditlog: export: %w", err)
			}
		}
		if len(cps) < 1000 {
			break
		}
		after = cps[len(cps)-1].Seq
	}
	var lines []Checkpoint
	if head, ok, err := ReadHead(l.HeadFile); err != nil {
		return sum, err
	} else if ok && head.Seq >= since {
		lines = append(lines, Checkpoint{Kind: KindHead, AuditCheckpoint: head})
	}
	if final != nil {
		lines = append(lines, Checkpoint{Kind: KindFinal, AuditCheckpoint: *final})
	}
	for _, c := range lines {
		if err := enc.Encode(c); err != nil {
			return sum, fmt.Errorf("auditlog: export: %w", err)
		}
	}
	for after := since - 1; after < end; {
		evs, err := l.Store.AuditEventsAfter(ctx, after, 1000)
		if err != nil {
			return sum, fmt.Errorf("auditlog: export: %w", err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Seq > end {
				break
			}
			if err := enc.Encode(Event{Kind: KindEvent, Seq: e.Seq, At: e.At.UTC(), Actor: e.Actor, Action: e.Action,
				Target: e.Target, Source: e.Source, Outcome: e.Outcome, Details: e.Details, PrevHash: e.PrevHash,
				Hash: e.Hash, MAC: e.MAC}); err != nil {
				return sum, fmt.Errorf("auditlog: export: %w", err)
			}
			sum.Events++
		}
		after = evs[len(evs)-1].Seq
	}
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("auditlog: export: %w", err)
	}
	return sum, nil
}

// OfflineReport is what VerifyExport found.
type OfflineReport struct {
	// First and Last are the seqs of the first and last exported event (0: none).
	First, Last int64
	Events      int
	// Checkpoints counts the signed checkpoints verified (head and final included).
	Checkpoints int
	// OnlineVerification is the header's word on the log when it was exported.
	OnlineVerification string
	// Fingerprint is the checkpoint key's.
	Fingerprint string
}

// VerifyExport checks an export with nothing but the checkpoint key's fingerprint the
// auditor recorded (hex SHA-256 of its PKIX DER): the header's key has that fingerprint;
// every checkpoint (stored, head, final) is signed by it; the events run on without gaps
// from the first exported one (from the genesis when it is seq 1), each hash matches its
// content and links to the previous one; every checkpoint's (seq, hash) is an exported
// event's (a checkpoint beyond the last event: the log or the export was cut), and the
// last event is covered by a signed checkpoint (which, through the links, covers all). A
// tampered export or log is an error wrapping store.ErrAuditBroken.
func VerifyExport(r io.Reader, fingerprint string) (OfflineReport, error) {
	var rep OfflineReport
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	line := 0
	var pub PublicKey
	cps := map[int64]store.AuditCheckpoint{}
	maxCP := int64(0)
	var prev store.AuditEvent
	covered, since := int64(0), int64(1)
	for sc.Scan() {
		line++
		var kind struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(sc.Bytes(), &kind); err != nil {
			return rep, fmt.Errorf("auditlog: export line %d: %w", line, err)
		}
		if line == 1 {
			if kind.Kind != KindHeader {
				return rep, fmt.Errorf("auditlog: export line 1: kind %q, want %q", kind.Kind, KindHeader)
			}
			var h Header
			if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
				return rep, fmt.Errorf("auditlog: export header: %w", err)
			}
			if h.Format != ExportFormat {
				return rep, fmt.Errorf("auditlog: export header: format %q, want %q", h.Format, ExportFormat)
			}
			var err error
			if pub, err = ParsePublicKey([]byte(h.PublicKey)); err != nil {
				return rep, fmt.Errorf("auditlog: export header: %w", err)
			}
			if !strings.EqualFold(pub.Fingerprint(), h.Fingerprint) {
				return rep, fmt.Errorf("auditlog: export header: fingerprint %s is not its public key's (%s)", h.Fingerprint, pub.Fingerprint())
			}
			if !strings.EqualFold(pub.Fingerprint(), strings.TrimSpace(fingerprint)) {
				return rep, fmt.Errorf("auditlog: %w: the export's checkpoint key %s is not the trusted key %s", store.ErrAuditBroken, pub.Fingerprint(), fingerprint)
			}
			rep.OnlineVerification, rep.Fingerprint = h.OnlineVerification, pub.Fingerprint()
			since = max(h.SinceSeq, 1)
			continue
		}
		switch kind.Kind {
		case KindCheckpoint, KindHead, KindFinal:
			if rep.Events > 0 {
				return rep, fmt.Errorf("auditlog: export line %d: a checkpoint after the events", line)
			}
			var c Checkpoint
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				return rep, fmt.Errorf("auditlog: export line %d: %w", line, err)
			}
			if err := pub.Verify(c.AuditCheckpoint); err != nil {
				return rep, broken("export line %d (%s): %v", line, c.Kind, err)
			}
			if o, ok := cps[c.Seq]; ok && !strings.EqualFold(o.Hash, c.Hash) {
				return rep, broken("two signed checkpoints at seq %d with different hashes", c.Seq)
			}
			cps[c.Seq] = c.AuditCheckpoint
			maxCP = max(maxCP, c.Seq)
			rep.Checkpoints++
		case KindEvent:
			var ev Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				return rep, fmt.Errorf("auditlog: export line %d: %w", line, err)
			}
			e := ev.stored()
			switch {
			case rep.Events == 0 && e.Seq != since:
				return rep, broken("the first event is seq %d, the header says the export starts at seq %d (events cut)", e.Seq, since)
			case rep.Events == 0 && e.Seq == 1 && e.PrevHash != store.GenesisHash:
				return rep, broken("seq 1: prev_hash is not the genesis hash")
			case rep.Events > 0 && e.Seq != prev.Seq+1:
				return rep, broken("seq %d follows seq %d (gap)", e.Seq, prev.Seq)
			case rep.Events > 0 && e.PrevHash != prev.Hash:
				return rep, broken("seq %d: prev_hash does not match the hash of seq %d", e.Seq, prev.Seq)
			case !strings.EqualFold(e.Hash, e.ComputeHash()):
				return rep, broken("seq %d: hash mismatch (event modified)", e.Seq)
			}
			if c, ok := cps[e.Seq]; ok {
				if !strings.EqualFold(c.Hash, e.Hash) {
					return rep, broken("seq %d: hash differs from its signed checkpoint (rewritten)", e.Seq)
				}
				covered = e.Seq
			}
			if rep.Events == 0 {
				rep.First = e.Seq
			}
			prev = e
			rep.Events++
			rep.Last = e.Seq
		default:
			return rep, fmt.Errorf("auditlog: export line %d: unknown kind %q", line, kind.Kind)
		}
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("auditlog: export: %w", err)
	}
	if line == 0 {
		return rep, errors.New("auditlog: export: empty file")
	}
	if maxCP > rep.Last {
		return rep, broken("the export ends at seq %d but a signed checkpoint is at seq %d (truncated)", rep.Last, maxCP)
	}
	if covered < rep.Last {
		return rep, broken("events %d to %d are not covered by a signed checkpoint (online verification at export: %s)",
			covered+1, rep.Last, rep.OnlineVerification)
	}
	return rep, nil
}
