package sim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
)

// maxFaultsBody bounds POST /_sim/faults: a config for every one of 10,000
// channels fits easily, a runaway upload does not.
const maxFaultsBody = 1 << 20

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
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFaultsBody))
		if err != nil {
			if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
				s.respondProblem(w, http.StatusRequestEntityTooLarge, "error_payload_too_large", "Payload Too Large", "The body is limited to 1 MiB.")
				return
			}
			s.respondProblem(w, http.StatusBadRequest, "error_bad_request", "Bad Request", "The body could not be read.")
			return
		}
		fc, err := ParseFaultsAt(data, s.now())
		if err == nil {
			err = s.SetFaults(fc)
		}
		if err != nil {
			// Validation messages name fields and values the caller sent; they
			// hold nothing secret, and they say what to fix.
			s.respondProblem(w, http.StatusBadRequest, "error_bad_request", "Bad Request", err.Error())
			return
		}
		s.respondValue(w, http.StatusOK, s.Faults())
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		s.respond(w, http.StatusMethodNotAllowed, bodyMethod)
	}
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
