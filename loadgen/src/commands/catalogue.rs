//! `loadgen catalogue`: the built-in emulated proxies as a profile.json.

use anyhow::{Context, Result};
use profiles::Catalogue;

use crate::cli::CatalogueArgs;
use crate::pipeline::create_parent;

/// Writes the built-in catalogue.
pub fn catalogue(args: &CatalogueArgs) -> Result<()> {
    let catalogue = Catalogue::builtin();
    create_parent(&args.output)?;
    formats::output::write_atomic(&args.output, catalogue.to_profile_json().as_bytes())
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "catalogue  {} built-in emulated proxies -> {}",
        catalogue.proxies.len(),
        args.output.display()
    );
    Ok(())
}
