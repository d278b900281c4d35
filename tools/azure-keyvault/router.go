package main

// HTTP in front of the SDK's fake: method + path routing to the fake's operations (the fake dispatches on
// the operation name the Go client would put in the request context), the 401 bearer challenge, token
// and permission checks, fault injection and request counting, and Key Vault's JSON error shape.
//
// Listings: the fake keeps a listing's pages between requests, keyed by the request path. A first page
// is given a path of its own (/_page/<id>/...), so the nextLinks of concurrent listings never meet.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets/fake"
)

const name = `[a-zA-Z0-9-]+`

// routes maps method + path to the fake's operation and the permission it needs.
var routes = []struct {
	method, op, permission string
	path                   *regexp.Regexp
}{
	{"GET", "Client.NewListSecretPropertiesPager", "list", regexp.MustCompile(`^/secrets/?$`)},
	{"POST", "Client.RestoreSecret", "restore", regexp.MustCompile(`^/secrets/restore$`)},
	{"GET", "Client.NewListSecretPropertiesVersionsPager", "list", regexp.MustCompile(`^/secrets/` + name + `/versions$`)},
	{"POST", "Client.BackupSecret", "backup", regexp.MustCompile(`^/secrets/` + name + `/backup$`)},
	{"GET", "Client.GetSecret", "get", regexp.MustCompile(`^/secrets/` + name + `(/[a-zA-Z0-9]*)?/?$`)},
	{"PUT", "Client.SetSecret", "set", regexp.MustCompile(`^/secrets/` + name + `/?$`)},
	{"PATCH", "Client.UpdateSecretProperties", "set", regexp.MustCompile(`^/secrets/` + name + `(/[a-zA-Z0-9]*)?/?$`)},
	{"DELETE", "Client.DeleteSecret", "delete", regexp.MustCompile(`^/secrets/` + name + `/?$`)},
	{"GET", "Client.NewListDeletedSecretPropertiesPager", "list", regexp.MustCompile(`^/deletedsecrets/?$`)},
	{"GET", "Client.GetDeletedSecret", "list", regexp.MustCompile(`^/deletedsecrets/` + name + `/?$`)},
	{"DELETE", "Client.PurgeDeletedSecret", "purge", regexp.MustCompile(`^/deletedsecrets/` + name + `/?$`)},
	{"POST", "Client.RecoverDeletedSecret", "recover", regexp.MustCompile(`^/deletedsecrets/` + name + `/recover$`)},
}

var pagePath = regexp.MustCompile(`^/_page/([0-9a-f]+)(/.*?)(/fake_page_\d+)?$`)

// Fault makes matching requests fail or slow down: Status (with Code and Retry-After) and/or DelayMs,
// for Times requests (0: until cleared). Operation is an operation name, "Token", "ManagedIdentity" or "*".
type Fault struct {
	Operation  string `json:"operation"`
	Status     int    `json:"status"`
	Code       string `json:"code"`
	RetryAfter int    `json:"retryAfter"`
	DelayMs    int    `json:"delayMs"`
	Times      int    `json:"times"`
	used       int
}

// Faults is the list of active faults and the request counters.
type Faults struct {
	mu     sync.Mutex
	rules  []*Fault
	counts map[string]int
}

func NewFaults() *Faults { return &Faults{counts: map[string]int{}} }

func (f *Faults) Set(rules []*Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = rules
}

// take counts a request of op and returns the fault that applies to it, if any.
func (f *Faults) take(op string) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[op]++
	for _, rule := range f.rules {
		if (rule.Operation == op || rule.Operation == "*") && (rule.Times == 0 || rule.used < rule.Times) {
			rule.used++
			copied := *rule
			return &copied
		}
	}
	return nil
}

func (f *Faults) Counts(reset bool) map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.counts))
	for k, v := range f.counts {
		out[k] = v
	}
	if reset {
		f.counts = map[string]int{}
	}
	return out
}

// apply delays and/or answers a fault; it returns true when the request has been answered.
func (fault *Fault) apply(w http.ResponseWriter, r *http.Request) bool {
	if fault == nil {
		return false
	}
	if fault.DelayMs > 0 {
		select {
		case <-time.After(time.Duration(fault.DelayMs) * time.Millisecond):
		case <-r.Context().Done():
			return true
		}
	}
	if fault.Status == 0 {
		return false
	}
	if fault.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(fault.RetryAfter))
	}
	code := fault.Code
	if code == "" {
		code = map[int]string{429: "Throttled", 500: "InternalServerError", 503: "ServiceUnavailable"}[fault.Status]
	}
	kvWrite(w, &kvError{Status: fault.Status, Code: code, Message: "Injected by the test server."})
	return true
}

// kvWrite writes an error in Key Vault's shape.
func kvWrite(w http.ResponseWriter, e *kvError) {
	body := map[string]any{"code": e.Code, "message": e.Message}
	if e.Inner != "" {
		body["innererror"] = map[string]any{"code": e.Inner}
	}
	w.Header().Set("x-ms-error-code", e.Code)
	writeJSON(w, e.Status, map[string]any{"error": body})
}

// Vault serves the secrets API.
type Vault struct {
	store     *Store
	identity  *Identity
	faults    *Faults
	transport *fake.ServerTransport
	base      string // https://host:port, for the challenge
}

func NewVault(store *Store, identity *Identity, faults *Faults, base string) *Vault {
	return &Vault{store: store, identity: identity, faults: faults, transport: fake.NewServerTransport(store.Server()), base: base}
}

func (v *Vault) challenge(w http.ResponseWriter, message string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, v.base, v.identity.tenant, VaultResource))
	kvWrite(w, &kvError{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: message})
}

func (v *Vault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, paged := r.URL.EscapedPath(), false
	if m := pagePath.FindStringSubmatch(path); m != nil {
		path, paged = m[2], true
	}
	op, permission := "", ""
	for _, route := range routes {
		if route.method == r.Method && route.path.MatchString(path) {
			op, permission = route.op, route.permission
			break
		}
	}
	if op == "" {
		kvWrite(w, &kvError{Status: http.StatusBadRequest, Code: "BadParameter", Message: fmt.Sprintf("No operation %s %s.", r.Method, path)})
		return
	}
	principal, reason := v.identity.Check(r.Header.Get("Authorization"))
	if principal == nil {
		v.faults.take("Unauthenticated")
		v.challenge(w, reason)
		return
	}
	if v.faults.take(op).apply(w, r) {
		return
	}
	if !principal.may(permission) {
		kvWrite(w, &kvError{Status: http.StatusForbidden, Code: "Forbidden", Inner: "ForbiddenByPolicy",
			Message: fmt.Sprintf("The user, group or application 'appid=%s' does not have secrets %s permission on this key vault.", principal.ClientID, permission)})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil || len(body) > 1<<20 {
		kvWrite(w, &kvError{Status: http.StatusRequestEntityTooLarge, Code: "RequestTooLarge", Message: "The request body is larger than 1 MiB."})
		return
	}
	req := r.Clone(context.WithValue(context.WithValue(r.Context(), runtime.CtxAPINameKey{}, op), ctxKey{}, "https://"+r.Host))
	req.URL.Scheme, req.URL.Host = "https", r.Host
	req.Body = io.NopCloser(bytes.NewReader(body))
	if strings.HasSuffix(op, "Pager") && !paged {
		req.URL.Path = "/_page/" + newVersionID() + r.URL.Path
		req.URL.RawPath = ""
	}
	resp, err := v.transport.Do(req)
	if err != nil {
		var kv *kvError
		var re *azcore.ResponseError
		switch {
		case errors.As(err, &kv):
			kvWrite(w, kv)
		case errors.As(err, &re):
			kvWrite(w, &kvError{Status: re.StatusCode, Code: re.ErrorCode, Message: re.ErrorCode})
		default:
			kvWrite(w, &kvError{Status: http.StatusBadRequest, Code: "BadParameter", Message: err.Error()})
		}
		return
	}
	defer resp.Body.Close()
	for k, values := range resp.Header {
		for _, value := range values {
			w.Header().Add(k, value)
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// decode reads a JSON request body of at most 1 MiB.
func decode(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v)
}
