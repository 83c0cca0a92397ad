// Command mkdb writes a Grype v6 vulnerability database from vunnel OS records, with Grype's
// own DB build code: the records go through grype-db's OS processor and transformer
// (grype/db/processors, grype/db/v6/build/transformers/os) and its v6 writer
// (grype/db/v6/build), exactly as `grype-db build` turns vunnel's output into the published
// DB. No SQL is written here.
//
// Usage: mkdb DIR < request.json, where the request is
//
//	{"captured": "2026-11-01T00:00:00Z",
//	 "providers": [{"name": "debian", "records": [<vunnel OS record>, ...]}]}
//
// and each record is the `{"Vulnerability": {...}}` object vunnel's OS providers emit
// (schema https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/os/
// schema-1.0.0.json). DIR receives vulnerability.db as Grype's writer leaves it (indexes
// dropped, vacuumed): install it with `grype db import DIR/vulnerability.db`, which hydrates
// it and writes the import.json checksum Grype validates.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/anchore/grype/grype/db/data"
	"github.com/anchore/grype/grype/db/processors"
	"github.com/anchore/grype/grype/db/provider"
	v6build "github.com/anchore/grype/grype/db/v6/build"
	ostransform "github.com/anchore/grype/grype/db/v6/build/transformers/os"
)

// osSchema is the vunnel result schema the OS processor accepts (major version 1).
const osSchema = "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/os/schema-1.0.0.json"

type request struct {
	Captured  time.Time `json:"captured"`
	Providers []struct {
		Name    string            `json:"name"`
		Records []json.RawMessage `json:"records"`
	} `json:"providers"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkdb:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: mkdb DIR < request.json")
	}
	dir := os.Args[1]
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	if len(req.Providers) == 0 {
		return fmt.Errorf("no providers: Grype refuses a DB without one")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	processor := processors.NewV2OSProcessor(ostransform.Transform)
	if !processor.IsSupported(osSchema) {
		return fmt.Errorf("the OS processor does not accept %s", osSchema)
	}
	var states provider.States
	var entries []data.Entry
	for _, p := range req.Providers {
		state := provider.State{
			Provider:  p.Name,
			Version:   1,
			Processor: "vunnel@container-gate-tests",
			Schema:    provider.Schema{Version: "1.0.0", URL: osSchema},
			Timestamp: req.Captured,
		}
		states = append(states, state)
		records, err := json.Marshal(p.Records)
		if err != nil {
			return err
		}
		transformed, err := processor.Process(bytes.NewReader(records), state)
		if err != nil {
			return fmt.Errorf("provider %s: %w", p.Name, err)
		}
		entries = append(entries, transformed...)
	}

	writer, err := v6build.NewWriter(dir, states, false, 0)
	if err != nil {
		return err
	}
	if err := writer.Write(entries...); err != nil {
		_ = writer.Close()
		return err
	}
	return writer.Close()
}
