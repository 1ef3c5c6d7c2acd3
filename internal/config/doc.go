// Package config turns Switchboard's YAML configuration file and its
// environment into a typed, validated Config.
//
// The YAML field names are a public contract (DESIGN.md §4, documented in
// docs/configuration.md): they are never renamed. Parsing happens in stages
// so that every problem is reported with the file, line and field it concerns,
// and all problems of a file are reported at once:
//
//  1. ${VAR} references are swapped for placeholders in the raw text, so that
//     values which are not valid YAML (`[${KEY}]`) still parse and line
//     numbers stay those of the file;
//  2. the text is parsed into goccy/go-yaml's AST and placeholders inside
//     scalars are replaced by their environment values (never in comments);
//  3. a walk over the AST reports unknown fields and wrongly shaped values;
//  4. the AST is decoded into raw structs whose leaves keep their AST node,
//     and those are converted and validated field by field.
package config
