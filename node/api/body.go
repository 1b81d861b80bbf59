package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/authzd/authzd/authz"
)

// decodeStrict decodes a JSON object body into v, refusing unknown fields and
// trailing data. An empty body leaves v as it is.
func (a *API) decodeStrict(r *request, v any) error {
	raw, err := a.readBody(r.Request, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	return decodeStrictBytes(raw, v)
}

// decodeStrictBytes is decodeStrict on a body already read.
func decodeStrictBytes(raw []byte, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return authz.StatusMessage(http.StatusBadRequest, "Could not parse content of request: "+jsonProblem(err))
	}
	if dec.More() {
		return authz.StatusMessage(http.StatusBadRequest, "Could not parse content of request: trailing data after the JSON object")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing request content.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field '%s' must be %s", te.Field, te.Type)
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "invalid JSON"
}
