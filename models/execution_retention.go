package models

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// PruneExecutions deletes up to batch finished executions queued before
// cutoff, never one of a bot's keepPerBot newest, and takes them out of
// their bots' statistics in the same transaction (so the statistics keep
// agreeing with the table). It returns how many rows it deleted; call it
// again until it returns less than batch.
func PruneExecutions(ctx context.Context, db bun.IDB, cutoff time.Time, keepPerBot, batch int) (int, error) {
	if keepPerBot < 0 {
		keepPerBot = 0
	}
	var deleted int
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var gone []struct {
			BotID      uuid.UUID  `bun:"bot_id"`
			Status     ExecStatus `bun:"status"`
			DurationMS *float64   `bun:"duration_ms"`
		}
		// A row is kept when keepPerBot newer-or-equal rows of its bot do
		// not exist: the OFFSET probe walks the (bot_id, queued_at, id)
		// index at most keepPerBot steps.
		err := tx.NewRaw(`DELETE FROM bot_executions WHERE id IN (
				SELECT e.id FROM bot_executions e
				WHERE e.queued_at < ? AND e.status IN ('success', 'failed', 'cancelled', 'timed_out')
				AND EXISTS (SELECT 1 FROM bot_executions n WHERE n.bot_id = e.bot_id
					AND (n.queued_at > e.queued_at OR (n.queued_at = e.queued_at AND n.id > e.id))
					ORDER BY n.queued_at DESC, n.id DESC LIMIT 1 OFFSET ?)
				ORDER BY e.queued_at LIMIT ?)
			RETURNING bot_id, status, duration_ms`, cutoff.UTC(), max(keepPerBot-1, 0), batch).Scan(ctx, &gone)
		if err != nil {
			return fmt.Errorf("executions: prune: %w", err)
		}
		deleted = len(gone)
		deltas := map[uuid.UUID]*botDelta{}
		for _, g := range gone {
			d := deltas[g.BotID]
			if d == nil {
				d = &botDelta{}
				deltas[g.BotID] = d
			}
			d.total++
			switch g.Status {
			case ExecSuccess:
				d.ok++
			case ExecFailed, ExecTimedOut:
				d.failed++
			}
			if g.DurationMS != nil {
				d.timed++
				d.durUS += int64(math.Round(*g.DurationMS * 1000))
			}
		}
		for id, d := range deltas {
			_, err := tx.NewRaw(`UPDATE bots SET
					total_executions = total_executions - ?,
					successful_executions = successful_executions - ?,
					failed_executions = failed_executions - ?,
					timed_executions = timed_executions - ?,
					total_duration_us = total_duration_us - ?,
					avg_duration_ms = CASE WHEN timed_executions - ? > 0 THEN (total_duration_us - ?) / 1000.0 / (timed_executions - ?) ELSE 0 END
				WHERE id = ?`, d.total, d.ok, d.failed, d.timed, d.durUS, d.timed, d.durUS, d.timed, id).Exec(ctx)
			if err != nil {
				return fmt.Errorf("executions: prune statistics of bot %s: %w", id, err)
			}
		}
		return nil
	})
	return deleted, err
}
