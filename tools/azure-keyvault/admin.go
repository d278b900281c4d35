package main

// Test control, on the server's own port behind X-Admin-Token (written to ready.json for the harness):
//
//	POST   /_admin/principals   {"clientId", "secret" | "federated": [...] | "managed": true, "permissions": [...]}
//	PUT    /_admin/faults       [{"operation", "status", "code", "retryAfter", "delayMs", "times"}, ...]  (replaces)
//	DELETE /_admin/faults
//	PUT    /_admin/settings     {"pageSize": n, "tokenLifetimeSeconds": n}
//	GET    /_admin/requests     {"Client.GetSecret": n, "Token": n, ...}   (?reset=1 zeroes the counters)
//	POST   /_admin/reset        empties the vault

import (
	"crypto/subtle"
	"net/http"
	"time"
)

type Admin struct {
	token    string
	store    *Store
	identity *Identity
	faults   *Faults
}

func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Admin-Token")), []byte(a.token)) != 1 {
		aadError(w, http.StatusUnauthorized, "unauthorized", "X-Admin-Token is missing or wrong")
		return
	}
	bad := func(err error) { aadError(w, http.StatusBadRequest, "bad_request", err.Error()) }
	switch r.Method + " " + r.URL.Path {
	case "POST /_admin/principals":
		var p Principal
		if err := decode(r, &p); err != nil {
			bad(err)
			return
		}
		if err := a.identity.AddPrincipal(p); err != nil {
			bad(err)
			return
		}
	case "PUT /_admin/faults":
		var rules []*Fault
		if err := decode(r, &rules); err != nil {
			bad(err)
			return
		}
		a.faults.Set(rules)
	case "DELETE /_admin/faults":
		a.faults.Set(nil)
	case "PUT /_admin/settings":
		var s struct {
			PageSize             int `json:"pageSize"`
			TokenLifetimeSeconds int `json:"tokenLifetimeSeconds"`
		}
		if err := decode(r, &s); err != nil {
			bad(err)
			return
		}
		if s.PageSize > 0 {
			a.store.SetPageSize(s.PageSize)
		}
		if s.TokenLifetimeSeconds > 0 {
			a.identity.SetLifetime(time.Duration(s.TokenLifetimeSeconds) * time.Second)
		}
	case "GET /_admin/requests":
		writeJSON(w, http.StatusOK, a.faults.Counts(r.URL.Query().Get("reset") != ""))
		return
	case "POST /_admin/reset":
		a.store.Reset()
	default:
		aadError(w, http.StatusNotFound, "not_found", "no such admin operation")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
