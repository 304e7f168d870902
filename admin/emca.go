package admin

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"eacgate/ops"
	"eacgate/store"
)

// The emCA-compatible endpoints: POST /emCAServices/rest/{suspend,reinstate,revoke}. The wire
// format is in README.md ("emCA-compatible endpoints"); in short: header emKey names the API
// client; the body is {"requestData": base64(nonce || AES-256-GCM(key, nonce, json, aad)),
// "userName": ...} with aad = action + ":" + emKey; the JSON holds userName, password,
// signature (base64 DER CMS SignedData whose content is the serial, the certificate's CHR,
// signed with the client's registered certificate), revokeMode and remarks.

// The results (exact strings; integrators match on them).
const (
	resultAuthFailed       = "Authentication failed"
	resultBadRequest       = "Invalid request"
	resultBadRevokeMode    = "Invalid revokeMode"
	resultSignature        = "Signature verification failed"
	resultNoCRL            = "CRL does not exist"
	resultAlreadySuspended = "Certificate already suspended"
	resultAlreadyRevoked   = "Certificate already revoked"
	resultNotSuspended     = "Certificate not suspended"
	resultInternal         = "Internal error"
	// resultBusy comes with HTTP 503 and Retry-After: too many password checks at once.
	resultBusy = "Service busy"
)

// EMCAResponse is the response of the emCA-compatible endpoints, field for field.
type EMCAResponse struct {
	Status       string `json:"status"`
	Result       string `json:"result"`
	SubscriberID string `json:"subscriberId"`
	RequestID    string `json:"requestId"`
	AliasName    string `json:"aliasname"`
	// ProposalID: a revocation waiting for an RA operator's approval (status "pending",
	// two-person principle); absent otherwise.
	ProposalID int64 `json:"proposalId,omitempty"`
}

// emcaRequest is the decrypted requestData.
type emcaRequest struct {
	UserName   string `json:"userName"`
	Password   string `json:"password"`
	Signature  string `json:"signature"`
	RevokeMode *int   `json:"revokeMode"`
	Remarks    string `json:"remarks"`
}

// EMCAAdditionalData is the AES-GCM additional data of an action's requestData: binding it
// to the action and the client, so that a captured suspend cannot be replayed as a revoke.
func EMCAAdditionalData(action, emKey string) []byte { return []byte(action + ":" + emKey) }

// emcaActions are the operations service's actions of the emCA endpoints.
var emcaActions = map[string]ops.Action{
	"suspend": ops.ActionCertificateSuspend, "reinstate": ops.ActionCertificateReinstate, "revoke": ops.ActionCertificateRevoke,
}

func (h *Handler) emca(action string, lim *emcaLimits) http.HandlerFunc {
	check := h.checkPassword
	if check == nil {
		check = CheckPassword
	}
	opsAction := emcaActions[action]
	return func(w http.ResponseWriter, r *http.Request) {
		resp := EMCAResponse{Status: "failure", RequestID: newRequestID()}
		req := &request{Request: r, w: w, source: remoteIP(r)}
		serial, userName, remarks := "", "", ""
		actor := func() ops.Actor {
			return ops.Actor{Channel: ops.ChannelEMCA, Name: userName, Role: ops.APIClientRole, Remote: req.source, RequestID: resp.RequestID}
		}
		// respond answers without auditing (the operations service did); finishStatus
		// audits the refusals the endpoint decides itself.
		respond := func(status int, result string) {
			resp.Result = result
			writeJSON(w, status, resp)
		}
		finishStatus := func(status int, result string) {
			if err := h.ops().Record(r.Context(), actor(), opsAction, serial, "failed: "+result,
				map[string]string{"requestId": resp.RequestID, "remarks": remarks}); err != nil {
				h.logger().Error("audit", "err", err)
			}
			respond(status, result)
		}
		finish := func(result string) { finishStatus(http.StatusOK, result) }
		// refuse answers a request that did not authenticate: audited under the action's
		// name as always, but bounded (ops.AuthRefused: rate-limited, capped in size), so
		// that unauthenticated callers cannot flood the audit log.
		refuse := func(result string) {
			h.ops().AuthRefused(r.Context(), actor(), opsAction, serial, "failed: "+result,
				map[string]string{"requestId": resp.RequestID, "remarks": remarks})
			respond(http.StatusOK, result)
		}
		var body struct {
			RequestData string `json:"requestData"`
			UserName    string `json:"userName"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
		if err := dec.Decode(&body); err != nil || body.RequestData == "" || body.UserName == "" {
			refuse(resultBadRequest)
			return
		}
		userName = body.UserName
		emKey := r.Header.Get("emKey")
		if emKey == "" {
			refuse(resultAuthFailed)
			return
		}
		client, err := h.Store.APIClientByKey(r.Context(), emKey)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				h.logger().Error("emCA: API client lookup", "err", err)
				finish(resultInternal)
				return
			}
			refuse(resultAuthFailed)
			return
		}
		// A disabled, removed or expired client is refused like an unknown one.
		if err := ops.CheckAPIClientUsable(client, h.now()); err != nil {
			remarks = err.Error()
			refuse(resultAuthFailed)
			return
		}
		ip, err := netip.ParseAddr(req.source)
		if err != nil || !client.AllowsIP(ip) {
			refuse(resultAuthFailed)
			return
		}
		// A locked-out client is answered like any other authentication failure, without
		// decrypting or checking anything.
		lockedOut := func(until time.Time) {
			remarks = "client locked out until " + until.UTC().Format(time.RFC3339)
			refuse(resultAuthFailed)
		}
		// failed answers an authentication failure; until is the end of the lockout it
		// started, if it did.
		failed := func(why string, until time.Time) {
			remarks = why
			if !until.IsZero() {
				h.lockout(r.Context(), req, client, until)
			}
			refuse(resultAuthFailed)
		}
		if until := lim.lockedUntil(emKey); !until.IsZero() {
			lockedOut(until)
			return
		}
		key, err := h.clientKey(r.Context(), client)
		if err != nil {
			h.logger().Error("emCA: API client key", "client", client.UserName, "err", err)
			finish(resultInternal)
			return
		}
		in, nonce, err := decryptRequestData(key, body.RequestData, EMCAAdditionalData(action, emKey))
		if err != nil || in.UserName != body.UserName || in.UserName != client.UserName {
			failed("requestData not decryptable or user names differ", lim.fail(emKey))
			return
		}
		if err := lim.acquire(r.Context()); err != nil {
			h.logger().Warn("emCA: password check not started", "client", client.UserName, "err", err)
			remarks = "password checks busy"
			w.Header().Set("Retry-After", "5")
			finishStatus(http.StatusServiceUnavailable, resultBusy)
			return
		}
		if until := lim.lockedUntil(emKey); !until.IsZero() { // locked out while it waited
			lim.release()
			lockedOut(until)
			return
		}
		// The outcome is recorded before the slot is released, so that a request waiting for
		// it already sees the lockout this one starts.
		var until time.Time
		ok := check(client.PasswordHash, in.Password)
		if ok {
			lim.succeed(emKey)
		} else {
			until = lim.fail(emKey)
		}
		lim.release()
		if !ok {
			failed("wrong password", until)
			return
		}
		// Each request's nonce once: a captured request cannot be sent again (the same
		// answer as any other authentication failure).
		if err := h.Store.UseRequestNonce(r.Context(), emKey, nonce); err != nil {
			if !errors.Is(err, store.ErrConflict) {
				h.logger().Error("emCA request nonce", "err", err)
				finish(resultInternal)
				return
			}
			remarks = "replayed request"
			refuse(resultAuthFailed)
			return
		}
		h.ops().APIClientAuthenticated(r.Context(), actor(), client, nil)
		if !ops.Permitted(ops.APIClientRole, opsAction) { // the role matrix: what an API client may do
			finish(resultAuthFailed)
			return
		}
		remarks = in.Remarks
		if !revokeModeOK(action, in.RevokeMode) {
			finish(resultBadRevokeMode)
			return
		}
		cert, err := x509.ParseCertificate(client.Certificate)
		if err != nil {
			finish(resultInternal)
			return
		}
		der, err := base64.StdEncoding.DecodeString(in.Signature)
		if err != nil {
			finish(resultSignature)
			return
		}
		content, err := verifySignedData(der, cert)
		if err != nil {
			finish(resultSignature)
			return
		}
		serial = strings.TrimSpace(string(content))
		resp.AliasName = serial
		certs, err := h.Store.CertificatesByCHR(r.Context(), serial)
		if err != nil {
			finish(resultInternal)
			return
		}
		if len(certs) == 0 {
			finish("No Data Found For " + serial)
			return
		}
		svc := h.ops()
		var c *store.Certificate
		for i := len(certs) - 1; i >= 0; i-- { // the newest one this gateway keeps a status for
			if svc.KeepsStatus(&certs[i]) {
				c = &certs[i]
				break
			}
		}
		if c == nil {
			finish(resultNoCRL)
			return
		}
		if c.HolderID != nil {
			if holder, err := h.Store.HolderByID(r.Context(), *c.HolderID); err == nil {
				resp.SubscriberID = holder.Country + holder.Mnemonic
			}
		}
		a := actor()
		a.Words = func(err error) string { return emcaRefusal(action, err) }
		if action == "revoke" || action == "reinstate" && ops.CriticalCertificateReinstate(c) {
			h.emcaProposed(r.Context(), a, action, c, remarks, &resp)
			writeJSON(w, http.StatusOK, resp)
			return
		}
		do := map[string]func(context.Context, ops.Actor, int64, string) (*store.Certificate, error){
			"suspend": svc.SuspendCertificate, "reinstate": svc.ReinstateCertificate, "revoke": svc.RevokeCertificate,
		}[action]
		if _, err := do(r.Context(), a, c.ID, remarks); err != nil {
			respond(http.StatusOK, emcaRefusal(action, err))
			return
		}
		resp.Status = "success"
		respond(http.StatusOK, emcaSuccess[action])
	}
}

// resultPending answers a revocation or reinstatement that waits for an RA operator's
// approval.
var resultPending = map[string]string{"revoke": "Revocation Pending Approval", "reinstate": "Reinstatement Pending Approval"}

// emcaProposed revokes certificate c, or reinstates it when it is not a terminal's, for the
// API client a: critical tasks (two-person principle). With a quorum of 1 the change is made
// at once ("Revoked Successfully"); otherwise the client's request is a proposal an RA
// operator approves (REST or CLI) and the answer is status "pending" with its proposalId.
// The same request again, while the proposal is open, answers that proposal rather than
// making another.
func (h *Handler) emcaProposed(ctx context.Context, a ops.Actor, action string, c *store.Certificate, remarks string, resp *EMCAResponse) {
	a.Person = "emca:" + a.Name // the client is its own person, never an approver
	svc := h.ops()
	task := emcaActions[action]
	params := ops.CertificateStatusChange{CertificateID: c.ID, CHR: c.CHR, Reason: remarks}
	switch {
	case c.Status == store.CertRevoked:
		resp.Result = resultAlreadyRevoked
		return
	case action == "reinstate" && c.Status != store.CertSuspended:
		resp.Result = resultNotSuspended
		return
	}
	if open, err := svc.OpenProposalOf(ctx, task, func(raw string) bool {
		var p ops.CertificateStatusChange
		return json.Unmarshal([]byte(raw), &p) == nil && p.CertificateID == c.ID
	}); err == nil && open != nil {
		resp.Status, resp.Result, resp.ProposalID = "pending", resultPending[action], open.ID
		return
	}
	p, err := svc.Propose(ctx, a, task, params)
	switch {
	case err != nil:
		resp.Result = emcaRefusal(action, err)
	case p.Executed():
		resp.Status, resp.Result = "success", emcaSuccess[action]
	default:
		resp.Status, resp.Result, resp.ProposalID = "pending", resultPending[action], p.ID
	}
}

// lockout audits the start of a client's lockout.
func (h *Handler) lockout(ctx context.Context, r *request, c *store.APIClient, until time.Time) {
	h.logger().Warn("emCA: client locked out after repeated authentication failures", "client", c.UserName,
		"source", r.source, "until", until)
	a := ops.Actor{Channel: ops.ChannelEMCA, Name: c.UserName, Remote: r.source}
	if err := h.ops().Record(ctx, a, ops.ActionLockout, "api_client:"+c.UserName, "locked",
		map[string]string{"until": until.UTC().Format(time.RFC3339)}); err != nil {
		h.logger().Error("audit", "err", err)
	}
}

// emcaSuccess is each action's result when it succeeds.
var emcaSuccess = map[string]string{
	"suspend": "Suspended Successfully", "reinstate": "Reinstated Successfully", "revoke": "Revoked Successfully",
}

// emcaRefusal is the result that answers an action the operations service refused (a
// revoked certificate stays revoked whatever is asked).
func emcaRefusal(action string, err error) string {
	var te *ops.TransitionError
	switch {
	case errors.Is(err, store.ErrRevokedFinal), errors.As(err, &te) && te.From == store.CertRevoked:
		return resultAlreadyRevoked
	case te != nil && te.NoStatus:
		return resultNoCRL
	case te != nil && action == "reinstate":
		return resultNotSuspended
	case te != nil && action == "suspend":
		return resultAlreadySuspended
	}
	return resultInternal
}

// revokeModeOK: suspend needs 6 (certificateHold); reinstate takes 8 (removeFromCRL) or
// none; revoke takes an RFC 5280 reason other than those two (0-10, not 7).
func revokeModeOK(action string, mode *int) bool {
	switch action {
	case "suspend":
		return mode != nil && *mode == 6
	case "reinstate":
		return mode == nil || *mode == 8
	}
	return mode != nil && *mode >= 0 && *mode <= 10 && *mode != 6 && *mode != 7 && *mode != 8
}

// decryptRequestData opens requestData (nonce || AES-256-GCM ciphertext and tag) and returns
// the request and its nonce.
func decryptRequestData(key []byte, b64 string, aad []byte) (*emcaRequest, []byte, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	if len(raw) < gcm.NonceSize()+gcm.Overhead() {
		return nil, nil, errors.New("requestData too short")
	}
	nonce := raw[:gcm.NonceSize()]
	plain, err := gcm.Open(nil, nonce, raw[gcm.NonceSize():], aad)
	if err != nil {
		return nil, nil, err
	}
	var in emcaRequest
	if err := json.Unmarshal(plain, &in); err != nil {
		return nil, nil, err
	}
	return &in, nonce, nil
}

// Argon2id parameters of stored passwords (RFC 9106's second recommended option).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 4
	argonKeyLen  = 32
)

// HashPassword returns the stored form of a password: argon2id$t$m$p$salt$hash (hex).
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	sum := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("argon2id$%d$%d$%d$%s$%s", argonTime, argonMemory, argonThreads, hex.EncodeToString(salt), hex.EncodeToString(sum)), nil
}

// CheckPassword compares a password with its stored form in constant time.
func CheckPassword(stored, password string) bool {
	parts := strings.Split(stored, "$")
	if len(parts) != 6 || parts[0] != "argon2id" {
		return false
	}
	t, err1 := strconv.ParseUint(parts[1], 10, 32)
	m, err2 := strconv.ParseUint(parts[2], 10, 32)
	p, err3 := strconv.ParseUint(parts[3], 10, 8)
	salt, err4 := hex.DecodeString(parts[4])
	want, err5 := hex.DecodeString(parts[5])
	if errors.Join(err1, err2, err3, err4, err5) != nil || t == 0 || m > 1<<22 || p == 0 || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
