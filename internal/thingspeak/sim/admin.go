package sim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// maxAdminBody bounds POST /_sim/faults and /_sim/overrides: a config for
// every one of 10,000 channels fits easily, a runaway upload does not.
const maxAdminBody = 1 << 20

// serveStats answers GET /_sim/stats with Stats.
func (s *Simulator) serveStats(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.respond(w, http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	s.respondValue(w, http.StatusOK, s.Stats())
}

// serveFaults answers GET /_sim/faults with the configuration in force, and
// POST /_sim/faults by replacing it. Relative windows in the posted JSON are
// resolved against the simulator's clock; the answer shows them absolute.
func (s *Simulator) serveFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.respondValue(w, http.StatusOK, s.Faults())
	case http.MethodPost:
		data, ok := s.readBody(w, r)
		if !ok {
			return
		}
		fc, err := ParseFaultsAt(data, s.now())
		if err == nil {
			err = s.SetFaults(fc)
		}
		if err != nil {
			s.respondInvalid(w, err)
			return
		}
		s.respondValue(w, http.StatusOK, s.Faults())
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.respond(w, http.StatusMethodNotAllowed, bodyMethod)
	}
}

// serveOverrides answers GET /_sim/overrides with the overrides in force,
// POST by replacing them and DELETE by removing them all. Relative times in
// the posted JSON are resolved against the simulator's clock; every answer
// is the list then in force, with absolute times.
func (s *Simulator) serveOverrides(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		data, ok := s.readBody(w, r)
		if !ok {
			return
		}
		list, err := ParseOverridesAt(data, s.now())
		if err == nil {
			err = s.SetOverrides(list)
		}
		if err != nil {
			s.respondInvalid(w, err)
			return
		}
	case http.MethodDelete:
		_ = s.SetOverrides(nil) // an empty list is always valid
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, DELETE")
		s.respond(w, http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	s.respondValue(w, http.StatusOK, marshalOverrides(s.Overrides()))
}

// readBody reads a posted body of at most maxAdminBody bytes, or answers
// 413 or 400 and reports false.
func (s *Simulator) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err == nil {
		return data, true
	}
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		s.respondProblem(w, http.StatusRequestEntityTooLarge, "error_payload_too_large", "Payload Too Large", "The body is limited to 1 MiB.")
		return nil, false
	}
	s.respondProblem(w, http.StatusBadRequest, "error_bad_request", "Bad Request", "The body could not be read.")
	return nil, false
}

// respondInvalid answers 400 with a validation error. Its message names
// fields and values the caller sent; it holds nothing secret, and it says
// what to fix.
func (s *Simulator) respondInvalid(w http.ResponseWriter, err error) {
	s.respondProblem(w, http.StatusBadRequest, "error_bad_request", "Bad Request", err.Error())
}

// problem is ThingSpeak's error shape.
type problem struct {
	Status string        `json:"status"`
	Error  problemDetail `json:"error"`
}

type problemDetail struct {
	Code    string `json:"error_code"`
	Message string `json:"message"`
	Details string `json:"details"`
}

func (s *Simulator) respondProblem(w http.ResponseWriter, status int, code, message, details string) {
	s.respondValue(w, status, problem{
		Status: strconv.Itoa(status),
		Error:  problemDetail{Code: code, Message: message, Details: details},
	})
}

func (s *Simulator) respondValue(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // our own types always marshal; keep the answer well-formed anyway
		s.logger.Error("sim: encoding an answer failed", "err", err)
		s.respond(w, http.StatusInternalServerError, bodyInternal)
		return
	}
	w.Header()["Content-Type"] = s.jsonType
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
