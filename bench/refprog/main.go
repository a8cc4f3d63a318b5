// Command refprog is a minimal GOCACHEPROG written in Go, used only by
// bench/run.ts as a floor for the go-build comparison: it serves the same
// on-disk layout as go-cache-plugin (v1/a/<2 hex>/<action>, v1/o/<2
// hex>/<output>) with the least work possible: one goroutine, synchronous
// file I/O, no trimming, no metrics, no validation beyond the SHA-256.
//
// Usage: GOCACHEPROG="refprog <cache dir>"
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type request struct {
	ID       int64
	Command  string
	ActionID []byte
	OutputID []byte
	ObjectID []byte
	BodySize int64
}

type response struct {
	ID            int64
	Err           string     `json:",omitempty"`
	KnownCommands []string   `json:",omitempty"`
	Miss          bool       `json:",omitempty"`
	OutputID      []byte     `json:",omitempty"`
	Size          int64      `json:",omitempty"`
	Time          *time.Time `json:",omitempty"`
	DiskPath      string     `json:",omitempty"`
}

var root string

func path(kind, id string) string { return filepath.Join(root, "v1", kind, id[:2], id) }

func writeAtomic(final string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.%d.ref.tmp", final, os.Getpid())
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, final)
}

func get(req *request) response {
	action := hex.EncodeToString(req.ActionID)
	rec, err := os.ReadFile(path("a", action))
	if err != nil {
		return response{ID: req.ID, Miss: true}
	}
	f := strings.Fields(string(rec))
	if len(f) != 3 {
		return response{ID: req.ID, Miss: true}
	}
	size, _ := strconv.ParseInt(f[1], 10, 64)
	nanos, _ := strconv.ParseInt(f[2], 10, 64)
	out, err := hex.DecodeString(f[0])
	if err != nil {
		return response{ID: req.ID, Miss: true}
	}
	disk := path("o", f[0])
	if st, err := os.Stat(disk); err != nil || st.Size() != size {
		return response{ID: req.ID, Miss: true}
	}
	t := time.Unix(0, nanos)
	return response{ID: req.ID, OutputID: out, Size: size, Time: &t, DiskPath: disk}
}

func put(req *request, body []byte) response {
	outID := req.OutputID
	if outID == nil {
		outID = req.ObjectID
	}
	sum := sha256.Sum256(body)
	if int64(len(body)) != req.BodySize || hex.EncodeToString(sum[:]) != hex.EncodeToString(outID) {
		return response{ID: req.ID, Err: "body does not match OutputID/BodySize"}
	}
	out := hex.EncodeToString(outID)
	disk := path("o", out)
	if err := writeAtomic(disk, body, 0o755); err != nil {
		return response{ID: req.ID, Err: err.Error()}
	}
	rec := fmt.Sprintf("%s %d %d\n", out, len(body), time.Now().UnixNano())
	if err := writeAtomic(path("a", hex.EncodeToString(req.ActionID)), []byte(rec), 0o644); err != nil {
		return response{ID: req.ID, Err: err.Error()}
	}
	return response{ID: req.ID, DiskPath: disk}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: refprog <cache dir>")
		os.Exit(2)
	}
	root, _ = filepath.Abs(os.Args[1])
	w := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(w)
	send := func(r response) {
		enc.Encode(r)
		w.Flush()
	}
	send(response{KnownCommands: []string{"get", "put", "close"}})
	dec := json.NewDecoder(bufio.NewReaderSize(os.Stdin, 64<<10))
	for {
		var req request
		if err := dec.Decode(&req); err != nil {
			return
		}
		switch req.Command {
		case "get":
			send(get(&req))
		case "put":
			var body []byte
			if req.BodySize > 0 {
				if err := dec.Decode(&body); err != nil { // the body line is a JSON string of base64
					fmt.Fprintln(os.Stderr, "refprog: bad body:", err)
					os.Exit(1)
				}
			}
			send(put(&req, body))
		case "close":
			send(response{ID: req.ID})
			return
		default:
			send(response{ID: req.ID, Err: "unknown command " + req.Command})
		}
	}
}
