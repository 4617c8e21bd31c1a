# Exports two data sets of lme4 1.1-31 (Debian r-cran-lme4), unchanged, by
#   Rscript lmm_teach/data/glmm_data.R      (from the repository root)
# It writes lmm_teach/data/verbagg.csv and lmm_teach/data/grouseticks.csv. R is never needed to
# build or test; this script is kept so that the files can be made again.
#
# Factors are written as their labels (text), so `r2` is "N"/"Y" and VerbAgg's ordered factor
# `resp` is "no"/"perhaps"/"yes". Numbers are written as write.csv writes them (15 significant
# digits); the check at the end reads each file back and compares it with lme4's data.
suppressMessages(library(lme4))

out_dir <- file.path("lmm_teach", "data")

export <- function(frame, file) {
  path <- file.path(out_dir, file)
  write.csv(frame, path, row.names = FALSE)
  back <- read.csv(path, stringsAsFactors = FALSE)
  stopifnot(identical(names(back), names(frame)), nrow(back) == nrow(frame))
  for (col in names(frame)) {
    x <- frame[[col]]
    if (is.factor(x)) stopifnot(identical(as.character(back[[col]]), as.character(x)))
    else stopifnot(max(abs(back[[col]] - x)) <= 1e-13 * max(1, abs(x)))
  }
  cat(sprintf("%s: %d rows, columns %s\n", path, nrow(frame), paste(names(frame), collapse = ", ")))
}

# De Boeck & Wilson (2004): 316 persons crossed with 24 verbal-aggression items.
# Columns Anger, Gender, item, resp, id, btype, situ, mode, r2.
export(VerbAgg, "verbagg.csv")

# Elston et al. (2001): ticks on red grouse chicks; broods within locations, three years.
# Columns INDEX, TICKS, BROOD, HEIGHT, YEAR, LOCATION, cHEIGHT.
export(grouseticks, "grouseticks.csv")
