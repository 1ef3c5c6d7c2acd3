package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"switchboard/internal/gateway"
	"switchboard/internal/pricing"
)

// maxPriceFileSize bounds a price file; LiteLLM's full catalog is a few MiB.
const maxPriceFileSize = 64 << 20

// PriceFile is what an operator price file holds.
type PriceFile struct {
	Prices  map[string]gateway.Price
	Aliases map[string]string
	Limits  map[string]pricing.Limits
}

// LoadPriceFiles reads pricing.file and pricing.litellm_file, relative to
// the configuration file's directory, into c.Pricing. Load calls it; a
// configuration from Parse alone has not read them.
func (c *Config) LoadPriceFiles() error {
	p := &c.Pricing
	if p.File != "" {
		data, err := readPriceFile(c.resolve(p.File))
		if err != nil {
			return err
		}
		pf, err := ParsePriceFile(c.resolve(p.File), data)
		if err != nil {
			return err
		}
		p.FilePrices, p.FileAliases, p.FileLimits = pf.Prices, pf.Aliases, pf.Limits
	}
	if p.LiteLLMFile != "" {
		data, err := readPriceFile(c.resolve(p.LiteLLMFile))
		if err != nil {
			return err
		}
		prices, limits, err := pricing.ParseLiteLLM(data)
		if err != nil {
			return fmt.Errorf("config: pricing.litellm_file %s: %w", p.LiteLLMFile, err)
		}
		p.CatalogPrices, p.CatalogLimits = prices, limits
	}
	return nil
}

// resolve makes a path from the file relative to the file's directory.
func (c *Config) resolve(path string) string {
	if filepath.IsAbs(path) || c.File == "" {
		return path
	}
	return filepath.Join(filepath.Dir(c.File), path)
}

func readPriceFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: price file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPriceFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read price file %s: %w", path, err)
	}
	if len(data) > maxPriceFileSize {
		return nil, fmt.Errorf("config: price file %s is larger than %d MiB", path, maxPriceFileSize>>20)
	}
	return data, nil
}

// ParsePriceFile parses an operator price file: YAML (or JSON, which is
// YAML too) with one `prices:` mapping whose entries are those of the
// configuration's `prices:`. Every problem is reported, with its line.
func ParsePriceFile(filename string, data []byte) (*PriceFile, error) {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(filename, err, "")
	}
	var body ast.Node
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			if _, null := d.Body.(*ast.NullNode); !null {
				if body != nil {
					return nil, &Error{File: filename, Line: lineOf(d.Body), Msg: "only one YAML document is allowed"}
				}
				body = d.Body
			}
		}
	}
	out := &PriceFile{Prices: map[string]gateway.Price{}}
	if body == nil {
		return out, nil
	}
	var raw rawPriceFile
	c, ok := decodeChecked(filename, body, &raw, "", map[int][]string{}, nil)
	if !ok {
		return nil, c.joined()
	}
	c.prices(raw.Prices, "prices", out.Prices, &out.Aliases, &out.Limits)
	if len(c.errs) > 0 {
		return nil, c.joined()
	}
	return out, nil
}
