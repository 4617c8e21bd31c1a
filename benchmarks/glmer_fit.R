# Time lme4's glmer(formula, data, family, nAGQ) on a CSV written by bench_glmm.py.
#
#   Rscript benchmarks/glmer_fit.R DATA.csv "FORMULA" FAMILY NAGQ FACTOR_COLUMNS [REPEATS]
#
# FACTOR_COLUMNS is a comma-separated list of the columns to make factors ("" for none).
# Only glmer() is timed, with its defaults (two stages, the Hessian for the standard errors):
# R's start-up, library(lme4), reading the CSV and making the factors come before the clock
# starts. With REPEATS > 1, one untimed warm-up fit runs first and the median of REPEATS timed
# fits is reported. The last line of the output is one JSON object: seconds (median),
# all_seconds, loglik, theta, fixef, se and the versions.

suppressMessages(library(lme4))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 5) stop("usage: glmer_fit.R DATA.csv FORMULA FAMILY NAGQ FACTORS [REPEATS]")
path <- args[1]
form <- as.formula(args[2])
family <- get(args[3], mode = "function")
nagq <- as.integer(args[4])
factors <- if (nzchar(args[5])) strsplit(args[5], ",", fixed = TRUE)[[1]] else character(0)
repeats <- if (length(args) >= 6) as.integer(args[6]) else 1L

data <- read.csv(path, colClasses = setNames(rep("character", length(factors)), factors))
for (column in factors) data[[column]] <- factor(data[[column]])

fit_once <- function() glmer(form, data, family = family, nAGQ = nagq)

if (repeats > 1) invisible(fit_once())
seconds <- numeric(repeats)
for (r in seq_len(repeats)) {
  started <- proc.time()[["elapsed"]]
  fit <- fit_once()
  seconds[r] <- proc.time()[["elapsed"]] - started
}

numbers <- function(x) paste0("[", paste(sprintf("%.10g", x), collapse = ", "), "]")
cat(sprintf(paste0(
  '{"seconds": %.6f, "all_seconds": %s, "loglik": %.10f, "theta": %s, "fixef": %s, ',
  '"se": %s, "nobs": %d, "lme4": "%s", "R": "%s"}\n'),
  median(seconds), numbers(seconds), as.numeric(logLik(fit)), numbers(getME(fit, "theta")),
  numbers(fixef(fit)), numbers(sqrt(diag(as.matrix(vcov(fit))))), nobs(fit),
  as.character(packageVersion("lme4")), paste(R.version$major, R.version$minor, sep = ".")))
