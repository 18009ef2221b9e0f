//! The CLI's side of the results store: the `--db` option every command that touches the
//! store shares, and the sink through which `iomux bench` records a run as it goes.
use std::io;
use std::path::{Path, PathBuf};

use iomux_store::compare::calibration::learn_after;
use iomux_store::compare::Subjects;
use iomux_store::record::{Calibration, Point, Run, Sink};
use iomux_store::{DbUrl, Store};

/// `--db URL` (or `IOMUX_DB`): which store.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DbArg {
    /// The results store: a SQLite file (a path or sqlite:PATH) or
    /// mysql://USER:PASSWORD@HOST:PORT/DATABASE (mariadb:// too; ?socket=PATH for a Unix
    /// socket). Default: $XDG_DATA_HOME/iomux/runs.db, else ~/.local/share/iomux/runs.db.
    #[arg(
        long,
        env = "IOMUX_DB",
        hide_env_values = true,
        value_name = "URL",
        global = true
    )]
    pub db: Option<String>,
}

impl DbArg {
    /// The store's address: `--db`, `IOMUX_DB`, or the default file.
    pub fn url(&self) -> iomux_store::Result<DbUrl> {
        match &self.db {
            Some(text) => DbUrl::parse(text),
            None => DbUrl::default_sqlite(),
        }
    }

    /// Opens the store (creating or migrating it as needed).
    pub fn open(&self) -> iomux_store::Result<Box<dyn Store>> {
        iomux_store::open(&self.url()?)
    }
}

/// Records a lab run into a store as it is measured. A store that fails mid-run does not stop
/// the run: the sink says once what happened and how to import the run later from its JSONL
/// (which has every point), and records nothing more.
pub struct StoreSink {
    store: Option<Box<dyn Store>>,
    run_id: String,
    points: usize,
    jsonl_dir: PathBuf,
}

impl StoreSink {
    /// Records the run's start. Failing here (a user who may not write, say) is an error for
    /// the caller, before anything is measured; failing later is not.
    pub fn start(
        mut store: Box<dyn Store>,
        run: &Run,
        jsonl_dir: &Path,
    ) -> iomux_store::Result<StoreSink> {
        store.save_run(run)?;
        Ok(StoreSink {
            store: Some(store),
            run_id: run.id.clone(),
            points: 0,
            jsonl_dir: jsonl_dir.to_owned(),
        })
    }

    /// Where the run went, for the closing line: `None` if the store failed.
    pub fn recorded_in(&self) -> Option<String> {
        self.store.as_ref().map(|s| s.describe())
    }

    /// Learns and stores this testbed's noise bands from the runs of this run's commit (see
    /// [`iomux_store::compare::calibration`]); the bands stored. A failure is said, not fatal:
    /// the run itself is recorded.
    pub fn learn_calibration(&mut self, subjects: &Subjects) -> Vec<Calibration> {
        let Some(store) = self.store.as_mut() else {
            return Vec::new();
        };
        learn_after(store.as_mut(), &self.run_id, subjects).unwrap_or_else(|e| {
            eprintln!("iomux: warning: learning this testbed's noise bands failed: {e}");
            Vec::new()
        })
    }

    fn give_up(&mut self, error: iomux_store::Error) {
        let Some(store) = self.store.take() else {
            return;
        };
        eprintln!(
            "iomux: warning: recording into {} failed: {error}. The run goes on; every point is in {}; store it later with `iomux runs import {}`",
            store.describe(),
            self.jsonl_dir.join("results.jsonl").display(),
            self.jsonl_dir.display(),
        );
    }
}

impl Sink for StoreSink {
    fn run(&mut self, run: &Run) -> io::Result<()> {
        self.run_id = run.id.clone();
        if let Some(store) = &mut self.store {
            if let Err(e) = store.save_run(run) {
                self.give_up(e);
            }
        }
        Ok(())
    }

    fn point(&mut self, point: &Point) -> io::Result<()> {
        let seq = self.points;
        self.points += 1;
        if let Some(store) = &mut self.store {
            if let Err(e) = store.save_points(&self.run_id, seq, std::slice::from_ref(point)) {
                self.give_up(e);
            }
        }
        Ok(())
    }
}
