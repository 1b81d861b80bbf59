package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/authzd/authzd/authz"
)

// hashPassword checks a new password against the policy (R-API-20) and returns
// its bcrypt hash (R-API-21). bcrypt runs here, on the proposer, so that the event
// carries only the hash and every node applies the same bytes.
func (a *API) hashPassword(user, password string) (string, error) {
	if e := authz.CheckPassword(user, password, a.cfg.Settings.Password); e != nil {
		return "", e
	}
	h, err := authz.HashPassword(password, a.cfg.Settings.BcryptRounds)
	if err != nil {
		return "", fmt.Errorf("hash password of '%s': %w", user, err)
	}
	return h, nil
}

// hashPatchPasswords rewrites the RFC 6902 operations of an internal users PATCH
// so that no plain password reaches the log (R-API-19): a user object value with
// a "password" key gets a "hash" key instead, and a "/password" path becomes
// "/hash" with the hashed value. name is the user of a single-resource PATCH, or
// empty for a collection PATCH.
func (a *API) hashPatchPasswords(raw []byte, name string) ([]byte, error) {
	var ops []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ops); err != nil {
		return nil, authz.StatusMessage(400, "Wrong request body")
	}
	for _, op := range ops {
		var verb, path string
		_ = json.Unmarshal(op["op"], &verb)
		_ = json.Unmarshal(op["path"], &path)
		if verb != "add" && verb != "replace" {
			continue
		}
		user, field := name, ""
		parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
		if name == "" {
			if path == "" || path == "/" {
				continue // replaces the whole collection: users are objects under it
			}
			user = unescapePointer(parts[0])
			parts = parts[1:]
		} else if path == "" || path == "/" {
			parts = nil
		}
		if len(parts) == 1 {
			field = parts[0]
		}
		switch {
		case len(parts) == 0:
			// The value is a whole user object.
			var obj map[string]json.RawMessage
			if json.Unmarshal(op["value"], &obj) != nil || obj["password"] == nil {
				continue
			}
			var pw string
			if json.Unmarshal(obj["password"], &pw) != nil {
				return nil, authz.Reason("Wrong datatype")
			}
			h, err := a.hashPassword(user, pw)
			if err != nil {
				return nil, err
			}
			delete(obj, "password")
			obj["hash"], _ = json.Marshal(h)
			op["value"], _ = json.Marshal(obj)
		case field == "password":
			var pw string
			if json.Unmarshal(op["value"], &pw) != nil {
				return nil, authz.Reason("Wrong datatype")
			}
			h, err := a.hashPassword(user, pw)
			if err != nil {
				return nil, err
			}
			op["value"], _ = json.Marshal(h)
			op["path"], _ = json.Marshal(strings.TrimSuffix(path, "password") + "hash")
		}
	}
	return json.Marshal(ops)
}

// unescapePointer decodes one JSON pointer token (RFC 6901).
func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}

func contextWithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}
