package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"switchboard/internal/gateway"
	"switchboard/internal/httpapi"
	"switchboard/internal/rules"
	"switchboard/internal/secret"
	"switchboard/internal/sqlstore"
)

// openStoreForCLI opens the database a `serve` with the same config uses.
func openStoreForCLI(ctx context.Context, cfgPath string) (*sqlstore.Store, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	box, err := secret.LoadOrCreate(filepath.Join(dataDirFor(cfg, ""), "secret.key"), os.Getenv("SWITCHBOARD_SECRET"))
	if err != nil {
		return nil, fmt.Errorf("load secret key: %w", err)
	}
	return sqlstore.Open(ctx, cfg.Storage.Database, sqlstore.Options{Secret: box})
}

func keysCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{Use: "keys", Short: "Manage client API keys"}
	cmd.PersistentFlags().StringVarP(&cfgPath, "config", "c", "", "configuration file (YAML)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List client keys (never their secrets)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStoreForCLI(cmd.Context(), cfgPath)
			if err != nil {
				return err
			}
			defer st.Close()
			keys, err := st.ListKeys(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tENABLED\tMODELS\tBUDGET_USD\tSPENT_USD")
			for _, k := range keys {
				budget := "-"
				if k.BudgetNanoUSD > 0 {
					budget = usd(k.BudgetNanoUSD)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s…\t%t\t%v\t%s\t%s\n", k.ID, k.Name, k.Prefix, k.Enabled, k.Models, budget, usd(k.SpentNanoUSD))
			}
			return tw.Flush()
		},
	}

	var models []string
	var budget float64
	var rpm, tpm int
	var period string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a client key and print its secret once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := cliKey(args[0], models, budget, period, rpm, tpm)
			if err != nil {
				return err
			}
			st, err := openStoreForCLI(cmd.Context(), cfgPath)
			if err != nil {
				return err
			}
			defer st.Close()
			s := rules.MintKey()
			k.Hash, k.Prefix = httpapi.HashKey(s), rules.DisplayPrefix(s)
			k, err = st.CreateKey(cmd.Context(), k)
			if err != nil {
				return fmt.Errorf("create key %q: %w", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created key %q (id %d): %s\n", k.Name, k.ID, s)
			return nil
		},
	}
	create.Flags().StringSliceVar(&models, "models", []string{"*"}, "allowed models (globs)")
	create.Flags().Float64Var(&budget, "budget-usd", 0, "hard spend limit in USD (0: none)")
	create.Flags().StringVar(&period, "budget-period", "total", "when the budget starts again: total, daily, weekly or monthly (UTC)")
	create.Flags().IntVar(&rpm, "rpm", 0, "requests per minute (0: unlimited)")
	create.Flags().IntVar(&tpm, "tpm", 0, "tokens per minute (0: unlimited)")

	setEnabled := func(use string, enabled bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ID",
			Short: use + " a client key",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil {
					return fmt.Errorf("key id %q: %w", args[0], err)
				}
				st, err := openStoreForCLI(cmd.Context(), cfgPath)
				if err != nil {
					return err
				}
				defer st.Close()
				k, err := st.KeyByID(cmd.Context(), id)
				if err != nil {
					return fmt.Errorf("key %d: %w", id, err)
				}
				k.Enabled = enabled
				if _, err := st.UpdateKey(cmd.Context(), k); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Key %q %sd\n", k.Name, use)
				return nil
			},
		}
	}
	cmd.AddCommand(list, create, setEnabled("enable", true), setEnabled("disable", false))
	keysAPI(cmd, &cfgPath)
	return cmd
}

// cliKey checks the flags of `keys create` by the rules the config file
// and the admin API apply (internal/rules) and builds the key.
func cliKey(name string, models []string, budget float64, period string, rpm, tpm int) (gateway.Key, error) {
	k := gateway.Key{Name: name, RPM: rpm, TPM: tpm, Enabled: true}
	if err := rules.Name(name); err != nil {
		return k, fmt.Errorf("name: %w", err)
	}
	for i, m := range models {
		m, err := rules.ModelPattern(m)
		if err != nil {
			return k, fmt.Errorf("--models[%d]: %w", i, err)
		}
		k.Models = append(k.Models, m)
	}
	if err := rules.BudgetUSD(budget); err != nil {
		return k, fmt.Errorf("--budget-usd: %w", err)
	}
	k.BudgetNanoUSD = gateway.NanoUSD(budget)
	bp, err := gateway.ParseBudgetPeriod(period)
	if err != nil {
		return k, fmt.Errorf("--budget-period: %w", err)
	}
	k.BudgetPeriod = bp
	for _, l := range []struct {
		flag string
		n    int
	}{{"--rpm", rpm}, {"--tpm", tpm}} {
		if err := rules.Limit(int64(l.n)); err != nil {
			return k, fmt.Errorf("%s: %w", l.flag, err)
		}
	}
	return k, nil
}

func usd(nano int64) string {
	return fmt.Sprintf("%.4f", float64(nano)/1e9)
}
