// Command user answers, for each JSON line {"user", "passwd", "group"}, what moby/sys/user's
// GetExecUser returns: {"uid", "gid", "sgids"} or {"error"}. passwd and group are base64, or
// null for a missing file: GetExecUserPath then passes a nil reader, as here. The defaults
// are the runtimes' (runc's setupUser, moby's getUser): uid 0, gid 0.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"

	"github.com/moby/sys/user"
)

type question struct {
	User   string  `json:"user"`
	Passwd *[]byte `json:"passwd"`
	Group  *[]byte `json:"group"`
}

type answer struct {
	Uid   *int   `json:"uid,omitempty"`
	Gid   *int   `json:"gid,omitempty"`
	Sgids []int  `json:"sgids,omitempty"`
	Error string `json:"error,omitempty"`
}

func reader(data *[]byte) io.Reader {
	if data == nil {
		return nil
	}
	return bytes.NewReader(*data)
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	for in.Scan() {
		var q question
		var a answer
		if err := json.Unmarshal(in.Bytes(), &q); err != nil {
			a.Error = "bad question: " + err.Error()
		} else {
			defaults := &user.ExecUser{Uid: 0, Gid: 0, Home: "/"}
			u, err := user.GetExecUser(q.User, defaults, reader(q.Passwd), reader(q.Group))
			if err != nil {
				a.Error = err.Error()
			} else {
				a.Uid, a.Gid, a.Sgids = &u.Uid, &u.Gid, u.Sgids
			}
		}
		encoder.Encode(a)
		out.Flush()
	}
}
