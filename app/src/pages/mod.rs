//! One module per page.

mod api_keys;
mod auth;
mod catalogue;
mod dashboard;
mod dataset;
mod datasets;
mod home;
mod hotkeys;
mod leaderboards;
mod miners_admin;
mod not_found;
mod public;
mod queue;
mod sign_in_first;
mod task;
mod tasks;
mod tasks_admin;
mod tournaments;

pub use api_keys::ApiKeysPage;
pub use auth::{SignIn, SignUp};
pub use catalogue::CataloguePage;
pub use dashboard::Dashboard;
pub use dataset::DatasetPage;
pub use datasets::DatasetsPage;
pub use home::Home;
pub use hotkeys::HotkeysPage;
pub use leaderboards::Leaderboards;
pub use miners_admin::AdminMinersPage;
pub use not_found::NotFound;
pub use public::{MinerProfilePage, ResultPage};
pub use queue::QueuePage;
pub use task::TaskPage;
pub use tasks::{NewTaskPage, TasksPage};
pub use tasks_admin::AdminTasksPage;
pub use tournaments::{RecipePage, TournamentPage, TournamentsPage};
