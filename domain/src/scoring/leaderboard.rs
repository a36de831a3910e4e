//! The public leaderboard: miners by points over the last 1, 3 or 7 days, for every task type or one;
//! sortable and paginated. The database sums each miner's scores in one aggregate query, and each
//! board is kept for a few seconds: a public page read by many costs one query per board per few
//! seconds, and a stale board is served while one request computes the fresh one. Scores recorded
//! by this process make its boards stale at once; another replica's show within `FRESH_MS`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{WIN, weights};
use crate::clock::Millis;
use crate::datasets::TaskType;
use crate::db::{self, Database};
use crate::error::{Error, Result};

/// How long a computed board is served before it is computed again.
pub const FRESH_MS: Millis = 5_000;
/// Rows per page unless asked otherwise, and the most a page holds.
pub const PER_PAGE: u64 = 50;
pub const MAX_PER_PAGE: u64 = 500;

/// A miner's place on a leaderboard; `rank` is by points (ties by hotkey), whatever the sort.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Standing {
    pub rank: u64,
    pub hotkey: String,
    pub points: i64,
    pub tasks: u64,
    pub wins: u64,
}

/// The column a board is sorted by; points, wins and tasks most first, hotkeys alphabetically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    #[default]
    Points,
    Wins,
    Tasks,
    Hotkey,
}

impl Sort {
    pub fn parse(name: &str) -> Option<Sort> {
        match name {
            "points" => Some(Sort::Points),
            "wins" => Some(Sort::Wins),
            "tasks" => Some(Sort::Tasks),
            "hotkey" => Some(Sort::Hotkey),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Points => "points",
            Sort::Wins => "wins",
            Sort::Tasks => "tasks",
            Sort::Hotkey => "hotkey",
        }
    }
}

/// Which board, in which order, which page (from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardQuery {
    pub window: String,
    pub task_type: Option<TaskType>,
    pub sort: Sort,
    pub page: u64,
    pub per_page: u64,
}

impl BoardQuery {
    /// A query from its parts as people type them (`window`, `task_type`, `sort`, `page`,
    /// `per_page`, each optional), or the field that is wrong and what it may be.
    pub fn parse(
        window: Option<&str>,
        task_type: Option<&str>,
        sort: Option<&str>,
        page: Option<&str>,
        per_page: Option<&str>,
    ) -> Result<BoardQuery> {
        let window = window.filter(|w| !w.is_empty()).unwrap_or("7d");
        if !weights::WINDOWS.iter().any(|(name, _, _)| *name == window) {
            return Err(Error::invalid("window", "the window is 1d, 3d or 7d"));
        }
        let task_type = match task_type.filter(|t| !t.is_empty()) {
            None => None,
            Some(name) => Some(TaskType::parse(name).ok_or_else(|| {
                Error::invalid(
                    "task_type",
                    "the task type is instruct, chat, dpo, grpo or image",
                )
            })?),
        };
        let sort = match sort.filter(|s| !s.is_empty()) {
            None => Sort::default(),
            Some(name) => Sort::parse(name)
                .ok_or_else(|| Error::invalid("sort", "sort by points, wins, tasks or hotkey"))?,
        };
        let number = |field: &'static str, value: Option<&str>, default: u64| match value {
            None | Some("") => Ok(default),
            Some(text) => text.parse::<u64>().map_err(|_| {
                Error::invalid(field, format!("{field} is a whole number, not {text:?}"))
            }),
        };
        let page = number("page", page, 1)?;
        if page == 0 {
            return Err(Error::invalid("page", "pages are numbered from 1"));
        }
        let per_page = number("per_page", per_page, PER_PAGE)?;
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(Error::invalid(
                "per_page",
                format!("a page holds 1 to {MAX_PER_PAGE} rows"),
            ));
        }
        Ok(BoardQuery {
            window: window.to_string(),
            task_type,
            sort,
            page,
            per_page,
        })
    }

    fn window_ms(&self) -> Millis {
        weights::WINDOWS
            .iter()
            .find(|(name, _, _)| *name == self.window)
            .map_or(weights::WINDOWS[2].1, |(_, ms, _)| *ms)
    }
}

/// One page of a board.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BoardPage {
    pub window: String,
    pub task_type: Option<String>,
    pub sort: Sort,
    pub page: u64,
    pub per_page: u64,
    /// Miners on the whole board.
    pub total: u64,
    /// When the board was computed.
    pub as_of: Millis,
    pub standings: Vec<Standing>,
}

/// The boards this process has computed, by window and task type.
#[derive(Clone, Debug, Default)]
pub struct Leaderboards {
    inner: Arc<Mutex<Boards>>,
}

#[derive(Debug, Default)]
struct Boards {
    /// Bumped whenever this process records scores; a board computed before is stale.
    generation: u64,
    boards: HashMap<(String, Option<TaskType>), Board>,
}

#[derive(Debug)]
struct Board {
    standings: Arc<Vec<Standing>>,
    as_of: Millis,
    generation: u64,
    /// Since when a request has been computing a fresh board; the others serve this one meanwhile.
    /// A request that never finishes (its client went away) is given up on after `REFRESH_MS`.
    refreshing: Option<Millis>,
}

/// How long one request may take to compute a board before another tries.
const REFRESH_MS: Millis = 10_000;

impl Leaderboards {
    fn lock(&self) -> std::sync::MutexGuard<'_, Boards> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Marks every board stale: scores were just recorded.
    pub fn invalidate(&self) {
        self.lock().generation += 1;
    }

    /// How many times scores were recorded by this process: what is rendered from the boards is
    /// stale once it changes.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The page `query` asks for, as the scores stand at `now` (or at most `FRESH_MS` before).
    pub async fn page(&self, db: &Database, query: &BoardQuery, now: Millis) -> Result<BoardPage> {
        let (standings, as_of) = self.board(db, query, now).await?;
        Ok(paginate(query, &standings, as_of))
    }

    async fn board(
        &self,
        db: &Database,
        query: &BoardQuery,
        now: Millis,
    ) -> Result<(Arc<Vec<Standing>>, Millis)> {
        let key = (query.window.clone(), query.task_type);
        let generation = {
            let mut boards = self.lock();
            let generation = boards.generation;
            if let Some(board) = boards.boards.get_mut(&key) {
                let fresh = board.generation == generation && now - board.as_of < FRESH_MS;
                let refreshing = board
                    .refreshing
                    .is_some_and(|since| now - since < REFRESH_MS);
                if fresh || refreshing {
                    return Ok((board.standings.clone(), board.as_of));
                }
                board.refreshing = Some(now);
            }
            generation
        };
        let computed = compute(db, query, now).await;
        let mut boards = self.lock();
        match computed {
            Ok(standings) => {
                let standings = Arc::new(standings);
                boards.boards.insert(
                    key,
                    Board {
                        standings: standings.clone(),
                        as_of: now,
                        generation,
                        refreshing: None,
                    },
                );
                Ok((standings, now))
            }
            Err(err) => {
                if let Some(board) = boards.boards.get_mut(&key) {
                    board.refreshing = None;
                }
                Err(err)
            }
        }
    }
}

/// The whole board, computed now: every miner scored within the window, ranked by points.
async fn compute(db: &Database, query: &BoardQuery, now: Millis) -> Result<Vec<Standing>> {
    let task_type = query.task_type.map(|t| t.as_str());
    let rows =
        db::scores::totals_between(db.pool(), now - query.window_ms(), now, task_type, WIN).await?;
    let mut standings: Vec<Standing> = rows
        .into_iter()
        .map(|row| Standing {
            rank: 0,
            hotkey: row.hotkey,
            points: row.points,
            tasks: u64::try_from(row.tasks).unwrap_or(0),
            wins: u64::try_from(row.wins).unwrap_or(0),
        })
        .collect();
    standings.sort_by(|a, b| b.points.cmp(&a.points).then(a.hotkey.cmp(&b.hotkey)));
    for (i, standing) in standings.iter_mut().enumerate() {
        standing.rank = i as u64 + 1;
    }
    Ok(standings)
}

/// The page of `standings` (ranked by points) that `query` asks for, in its order.
pub fn paginate(query: &BoardQuery, standings: &[Standing], as_of: Millis) -> BoardPage {
    let start = ((query.page - 1) * query.per_page).min(standings.len() as u64) as usize;
    let end = (start + query.per_page as usize).min(standings.len());
    let rows: Vec<Standing> = if query.sort == Sort::Points {
        standings[start..end].to_vec()
    } else {
        let mut order: Vec<&Standing> = standings.iter().collect();
        match query.sort {
            Sort::Wins => order.sort_by(|a, b| b.wins.cmp(&a.wins).then(a.rank.cmp(&b.rank))),
            Sort::Tasks => order.sort_by(|a, b| b.tasks.cmp(&a.tasks).then(a.rank.cmp(&b.rank))),
            Sort::Hotkey | Sort::Points => order.sort_by(|a, b| a.hotkey.cmp(&b.hotkey)),
        }
        order[start..end].iter().map(|s| (*s).clone()).collect()
    };
    BoardPage {
        window: query.window.clone(),
        task_type: query.task_type.map(|t| t.as_str().to_string()),
        sort: query.sort,
        page: query.page,
        per_page: query.per_page,
        total: standings.len() as u64,
        as_of,
        standings: rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(rank: u64, hotkey: &str, points: i64, tasks: u64, wins: u64) -> Standing {
        Standing {
            rank,
            hotkey: hotkey.into(),
            points,
            tasks,
            wins,
        }
    }

    fn query(sort: &str, page: u64, per_page: u64) -> BoardQuery {
        let (page, per_page) = (page.to_string(), per_page.to_string());
        BoardQuery::parse(Some("7d"), None, Some(sort), Some(&page), Some(&per_page)).unwrap()
    }

    #[test]
    fn pages_split_the_board_in_rank_order_and_past_the_end_is_empty() {
        let board: Vec<Standing> = (1..=5)
            .map(|i| standing(i, &format!("m{i}"), 10 - i as i64, 1, 0))
            .collect();
        let second = paginate(&query("points", 2, 2), &board, 7);
        assert_eq!(second.total, 5);
        assert_eq!(
            second.standings.iter().map(|s| s.rank).collect::<Vec<_>>(),
            [3, 4]
        );
        assert!(
            paginate(&query("points", 4, 2), &board, 7)
                .standings
                .is_empty()
        );
    }

    #[test]
    fn another_sort_keeps_each_miners_rank_by_points() {
        let board = [
            standing(1, "b", 9, 3, 3),
            standing(2, "c", 3, 9, 1),
            standing(3, "a", 0, 4, 0),
        ];
        let by_tasks = paginate(&query("tasks", 1, 10), &board, 0);
        let order: Vec<(&str, u64)> = by_tasks
            .standings
            .iter()
            .map(|s| (s.hotkey.as_str(), s.rank))
            .collect();
        assert_eq!(order, [("c", 2), ("a", 3), ("b", 1)]);
        let by_hotkey = paginate(&query("hotkey", 1, 10), &board, 0);
        assert_eq!(by_hotkey.standings[0].hotkey, "a");
    }

    #[test]
    fn a_wrong_field_is_named() {
        let field = |result: Result<BoardQuery>| match result {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            field(BoardQuery::parse(Some("2d"), None, None, None, None)),
            "window"
        );
        assert_eq!(
            field(BoardQuery::parse(None, Some("text"), None, None, None)),
            "task_type"
        );
        assert_eq!(
            field(BoardQuery::parse(None, None, Some("age"), None, None)),
            "sort"
        );
        assert_eq!(
            field(BoardQuery::parse(None, None, None, Some("0"), None)),
            "page"
        );
        assert_eq!(
            field(BoardQuery::parse(None, None, None, None, Some("501"))),
            "per_page"
        );
        assert_eq!(
            field(BoardQuery::parse(None, None, None, Some("two"), None)),
            "page"
        );
    }
}
