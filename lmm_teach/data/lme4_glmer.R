# Reference fits of generalized linear mixed models, made with lme4 1.1-31 (Debian r-cran-lme4)
# and numDeriv by
#   Rscript lmm_teach/data/lme4_glmer.R      (from the repository root)
# It writes lmm_teach/data/lme4_glmer.json (shipped with the package: the book compares with it), and first the three simulated data sets
# tests/reference/data/glmm_sim_{binomial,poisson,slopes}.csv (seeded below; the fits read them
# back from the CSV, as the tests do). R is not needed to run the tests; this script is kept so
# that the numbers can be made again.
#
# Data: lmm_teach/data/cbpp.csv, verbagg.csv and grouseticks.csv (lme4's cbpp, VerbAgg and
# grouseticks, see lmm_teach/data/PROVENANCE.md), read with read.csv; grouping columns are made
# factors (levels sorted as R sorts them: numerically for integer codes, alphabetically for text);
# VerbAgg's r2 becomes 0/1 (Y = 1), Anger stays numeric.
#
# Each case holds: the exact glmer call (`r_call`), logLik, deviance(fit), AIC, BIC, fixef, se
# (sqrt(diag(vcov))), theta, VarCorr as a data frame (`sdcor`), nobs, ngrps, the spherical
# conditional modes `u` (getME(fit, "u"); ordered term by term as in `re_terms`, within a term
# level by level, and within a level coefficient by coefficient), the diagonal of the sparse
# Cholesky factor L (getME(fit, "L"), rows in the fill-reducing order `L_perm`, 0-based), the
# median elapsed seconds of 3 fits, and predictions on `newdata` (the first 3 rows of the data and
# a copy of row 1 whose grouping factors are all "NEW"). Warnings during the fits are kept in
# `warnings` (and printed), lme4's convergence messages in `lme4_messages`.
#
# Note: for nAGQ > 1 lme4 1.1-31 reports a log-likelihood without the binomial constants (it
# sums deviance residuals, i.e. it is relative to the saturated model): the cbpp nAGQ = 3, 9, 25
# `loglik` + sum(dbinom(incidence, size, incidence / size, log = TRUE)) (= -41.97835) is the full
# log-likelihood, which `marginal_loglik_by_integrate` gives; nAGQ = 1 keeps the constants.
#
# Note: CHOLMOD's fill-reducing order `L_perm` is not always the same from one R process to the
# next (with lme4 1.1-31 / Matrix 1.5-3 it changed between runs for grouseticks_olre and
# sim_poisson, never within a run). `L_diagonal` is in that order; `ldL2` (log det(L)^2) does
# not depend on it. The different rounding moves those two fits a little (theta by ~5e-6 and
# fixef by ~2e-5 for grouseticks_olre, ~1e-9 for sim_poisson; loglik by < 1e-9).
#
# Extra checks for cbpp:
# - nAGQ = 1, 3, 9, 25: `marginal_loglik_by_integrate`, the exact marginal log-likelihood
#   (all constants) at that fit's estimates, herd by herd with integrate().
# - `cbpp_exact_laplace`: the minimum of the Laplace approximation evaluated at the exact
#   conditional modes (Newton's method to |step| < 1e-12). lme4's nAGQ = 1 deviance takes its
#   Cholesky factor from the working weights of an earlier PIRLS iterate, so its minimum and
#   Hessian differ slightly from this one.
suppressMessages({library(lme4); library(jsonlite); library(numDeriv)})

lmm_data <- function(name) read.csv(file.path("lmm_teach", "data", name), stringsAsFactors = FALSE)
sim_path <- function(name) file.path("tests", "reference", "data", name)
as_factors <- function(frame, cols) { for (col in cols) frame[[col]] <- factor(frame[[col]]); frame }

## ---- Data shipped with the package --------------------------------------------------------

cbpp <- as_factors(lmm_data("cbpp.csv"), c("herd", "period"))
verbagg <- as_factors(lmm_data("verbagg.csv"), c("Gender", "item", "id", "btype", "situ", "mode"))
verbagg$resp <- factor(verbagg$resp, levels = c("no", "perhaps", "yes"))
verbagg$r2 <- as.numeric(verbagg$r2 == "Y")
grouseticks <- as_factors(lmm_data("grouseticks.csv"), c("INDEX", "BROOD", "YEAR", "LOCATION"))

## ---- Simulated data (written once, then read back) ----------------------------------------

set.seed(20240611)

# Binomial, crossed: 300 subjects each see 20 of 40 items (chosen at random); 3% of the rows
# are then dropped at random. logit P(y = 1) = -0.5 + 0.8 x + 0.4 [cond = b] + b_subject + b_item,
# b_subject ~ N(0, 1.0^2), b_item ~ N(0, 0.6^2). x is rounded to 3 decimals so the CSV is exact.
b_subject <- rnorm(300, 0, 1.0)
b_item <- rnorm(40, 0, 0.6)
design <- do.call(rbind, lapply(1:300, function(s) data.frame(s = s, i = sort(sample(40, 20)))))
design <- design[sort(sample(nrow(design), round(0.97 * nrow(design)))), ]
n_bin <- nrow(design)
sim <- data.frame(subject = sprintf("s%03d", design$s), item = sprintf("i%02d", design$i),
                  x = round(rnorm(n_bin), 3), cond = sample(c("a", "b"), n_bin, replace = TRUE))
eta <- -0.5 + 0.8 * sim$x + 0.4 * (sim$cond == "b") + b_subject[design$s] + b_item[design$i]
sim$y <- rbinom(n_bin, 1, plogis(eta))
write.csv(sim, sim_path("glmm_sim_binomial.csv"), row.names = FALSE)

# Poisson, crossed: 60 sites by 12 years, 2 to 6 rows per site-year.
# log E(y) = 0.3 + 0.5 x + b_site + b_year, b_site ~ N(0, 0.7^2), b_year ~ N(0, 0.3^2).
b_site <- rnorm(60, 0, 0.7)
b_year <- rnorm(12, 0, 0.3)
cells <- expand.grid(site = 1:60, year = 1:12)
cells <- cells[rep(seq_len(nrow(cells)), sample(2:6, nrow(cells), replace = TRUE)), ]
cells <- cells[order(cells$site, cells$year), ]
n_poi <- nrow(cells)
sim <- data.frame(site = sprintf("site%02d", cells$site), year = sprintf("y%d", 2000 + cells$year),
                  x = round(rnorm(n_poi), 3))
sim$y <- rpois(n_poi, exp(0.3 + 0.5 * sim$x + b_site[cells$site] + b_year[cells$year]))
write.csv(sim, sim_path("glmm_sim_poisson.csv"), row.names = FALSE)

# Binomial with trials and correlated random slopes: 80 groups of 15 to 35 rows; n trials drawn
# from 1..10, s successes. logit p = 0.2 + 0.5 x + b0_group + b1_group x with sd(b0) = 0.8,
# sd(b1) = 0.4, cor(b0, b1) = 0.3.
Sigma <- matrix(c(0.8^2, 0.3 * 0.8 * 0.4, 0.3 * 0.8 * 0.4, 0.4^2), 2)
b_group <- matrix(rnorm(160), 80, 2) %*% chol(Sigma)
g <- rep(1:80, sample(15:35, 80, replace = TRUE))
sim <- data.frame(group = sprintf("g%02d", g), x = round(rnorm(length(g)), 3),
                  n = sample(1:10, length(g), replace = TRUE))
sim$s <- rbinom(length(g), sim$n, plogis(0.2 + 0.5 * sim$x + b_group[g, 1] + b_group[g, 2] * sim$x))
write.csv(sim, sim_path("glmm_sim_slopes.csv"), row.names = FALSE)

sim_binomial <- as_factors(read.csv(sim_path("glmm_sim_binomial.csv"), stringsAsFactors = FALSE),
                           c("subject", "item", "cond"))
sim_poisson <- as_factors(read.csv(sim_path("glmm_sim_poisson.csv"), stringsAsFactors = FALSE),
                          c("site", "year"))
sim_slopes <- as_factors(read.csv(sim_path("glmm_sim_slopes.csv"), stringsAsFactors = FALSE),
                         "group")

## ---- Cases --------------------------------------------------------------------------------

case <- function(name, data, frame, formula, family, nAGQ = 1, extra = "")
  list(name = name, data = data, frame = frame, formula = formula, family = family, nAGQ = nAGQ,
       r_call = sprintf("glmer(%s, data = %s, family = %s%s, nAGQ = %d)",
                        formula, frame, family, extra, nAGQ))

cbpp_formula <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
cases <- c(
  lapply(c(1, 3, 9, 25), function(k)
    case(sprintf("cbpp_nAGQ%d", k), "cbpp.csv", "cbpp", cbpp_formula, "binomial", k)),
  list(
    case("cbpp_proportion", "cbpp.csv", "cbpp", "incidence/size ~ period + (1 | herd)",
         "binomial", extra = ", weights = size"),
    case("verbagg", "verbagg.csv", "verbagg",
         "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "binomial"),
    case("grouseticks", "grouseticks.csv", "grouseticks",
         "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", "poisson"),
    case("grouseticks_olre", "grouseticks.csv", "grouseticks",
         "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION) + (1 | INDEX)", "poisson"),
    case("sim_binomial", "glmm_sim_binomial.csv", "sim_binomial",
         "y ~ x + cond + (1 | subject) + (1 | item)", "binomial"),
    case("sim_poisson", "glmm_sim_poisson.csv", "sim_poisson",
         "y ~ x + (1 | site) + (1 | year)", "poisson"),
    case("sim_slopes", "glmm_sim_slopes.csv", "sim_slopes",
         "cbind(s, n - s) ~ x + (x | group)", "binomial")))

data_paths <- c(cbpp.csv = "lmm_teach/data/cbpp.csv", verbagg.csv = "lmm_teach/data/verbagg.csv",
                grouseticks.csv = "lmm_teach/data/grouseticks.csv",
                glmm_sim_binomial.csv = "tests/reference/data/glmm_sim_binomial.csv",
                glmm_sim_poisson.csv = "tests/reference/data/glmm_sim_poisson.csv",
                glmm_sim_slopes.csv = "tests/reference/data/glmm_sim_slopes.csv")

## ---- Fitting ------------------------------------------------------------------------------

# Runs the call 3 times (system.time each); returns the first fit, the median elapsed seconds
# and every distinct warning (they are also printed, not muffled).
timed_fit <- function(r_call) {
  warns <- character(0)
  fits <- list(); secs <- numeric(3)
  for (k in 1:3) {
    secs[k] <- system.time(fits[[k]] <- withCallingHandlers(
      eval(parse(text = r_call), envir = globalenv()),
      warning = function(w) warns <<- c(warns, conditionMessage(w))))[["elapsed"]]
  }
  list(fit = fits[[1]], seconds = median(secs), warnings = unique(warns))
}

# The first 3 rows of the data and a copy of row 1 whose grouping factors are all "NEW".
make_newdata <- function(frame, groups) {
  nd <- frame[c(1, 2, 3, 1), ]
  rownames(nd) <- NULL
  for (grp in groups) { nd[[grp]] <- as.character(nd[[grp]]); nd[[grp]][4] <- "NEW" }
  nd
}

summarise_fit <- function(cs, run) {
  fit <- run$fit
  vc <- as.data.frame(VarCorr(fit))
  vc$var1[is.na(vc$var1)] <- ""; vc$var2[is.na(vc$var2)] <- ""
  cnms <- getME(fit, "cnms"); flist <- getME(fit, "flist")
  groups <- names(flist)
  newdata <- make_newdata(get(cs$frame), groups)
  pr <- function(...) unname(predict(fit, newdata = newdata, allow.new.levels = TRUE, ...))
  L <- getME(fit, "L")
  list(name = cs$name, data = cs$data, data_path = unname(data_paths[cs$data]),
       r_call = cs$r_call, formula = cs$formula, family = cs$family,
       link = family(fit)$link, nAGQ = cs$nAGQ,
       loglik = as.numeric(logLik(fit)), deviance_lme4 = deviance(fit),
       aic = AIC(fit), bic = BIC(fit),
       fixef = as.list(fixef(fit)),
       se = as.list(setNames(sqrt(diag(as.matrix(vcov(fit)))), names(fixef(fit)))),
       theta = as.list(getME(fit, "theta")),
       sdcor = vc[, c("grp", "var1", "var2", "vcov", "sdcor")],
       nobs = nobs(fit), ngrps = as.list(ngrps(fit)),
       re_terms = lapply(seq_along(cnms), function(i)
         list(grp = names(cnms)[i], coef = as.list(cnms[[i]]),
              levels = as.list(levels(flist[[names(cnms)[i]]])))),
       u = as.vector(getME(fit, "u")),
       L_diagonal = as.vector(diag(as(L, "sparseMatrix"))), L_perm = as.vector(L@perm),
       ldL2 = getME(fit, "devcomp")$cmp[["ldL2"]],
       seconds = run$seconds,
       newdata = newdata,
       predict = list(link = pr(type = "link"), response = pr(type = "response"),
                      fixed_link = pr(re.form = NA, type = "link")),
       optimizer = as.list(fit@optinfo$optimizer),
       warnings = as.list(run$warnings),
       lme4_messages = as.list(as.character(fit@optinfo$conv$lme4$messages)))
}

## ---- cbpp: exact marginal log-likelihood by integrate() -----------------------------------

cbpp_X <- model.matrix(~ period, cbpp)
cbpp_herd <- as.integer(cbpp$herd)

# sum over herds of log of  integral prod_i dbinom(incidence_i, size_i, plogis(eta_i + theta u))
# dnorm(u) du. The log integrand is concave with curvature <= -1, so it is below its maximum by
# at least (u - mode)^2 / 2 and [mode - 40, mode + 40] loses nothing; it is scaled by its
# maximum before integrating and the two halves are integrated separately.
marginal_loglik <- function(theta, beta) {
  eta0 <- drop(cbpp_X %*% beta)
  total <- 0
  for (h in seq_len(nlevels(cbpp$herd))) {
    rows <- cbpp_herd == h
    logf <- function(u) vapply(u, function(v)
      sum(dbinom(cbpp$incidence[rows], cbpp$size[rows], plogis(eta0[rows] + theta * v), log = TRUE)) +
        dnorm(v, log = TRUE), numeric(1))
    mode <- optimize(logf, c(-20, 20), maximum = TRUE, tol = 1e-10)$maximum
    top <- logf(mode)
    f <- function(u) exp(logf(u) - top)
    area <- integrate(f, mode - 40, mode, rel.tol = 1e-12, subdivisions = 1000L)$value +
      integrate(f, mode, mode + 40, rel.tol = 1e-12, subdivisions = 1000L)$value
    total <- total + top + log(area)
  }
  total
}

## ---- cbpp: Laplace approximation at the exact conditional modes ---------------------------

# par = c(theta, beta). For each herd, Newton's method on
#   -2 sum_i log dbinom(y_i, n_i, mu_i) + u^2,  mu_i = plogis(x_i' beta + theta u),
# from u = 0 until every |step| < 1e-12; then
#   -2 sum log dbinom + sum u^2 + sum_herds log(1 + theta^2 sum_rows n mu (1 - mu)),
# with mu at the converged modes (lme4's definition of the Laplace deviance, with constants).
laplace_dev <- function(par) {
  theta <- par[1]; beta <- par[-1]
  eta0 <- drop(cbpp_X %*% beta)
  y <- cbpp$incidence; n <- cbpp$size
  u <- numeric(nlevels(cbpp$herd))
  converged <- FALSE
  for (it in 1:200) {
    mu <- plogis(eta0 + theta * u[cbpp_herd])
    grad <- u - theta * drop(rowsum(y - n * mu, cbpp_herd))       # half the gradient
    hess <- 1 + theta^2 * drop(rowsum(n * mu * (1 - mu), cbpp_herd))  # half the Hessian
    step <- grad / hess
    u <- u - step
    if (max(abs(step)) < 1e-12) { converged <- TRUE; break }
  }
  if (!converged) stop("Newton's method did not converge at par = ", paste(par, collapse = ", "))
  mu <- plogis(eta0 + theta * u[cbpp_herd])
  -2 * sum(dbinom(y, n, mu, log = TRUE)) + sum(u^2) +
    sum(log(1 + theta^2 * drop(rowsum(n * mu * (1 - mu), cbpp_herd))))
}

exact_laplace_case <- function(fit1) {
  start <- c(getME(fit1, "theta"), fixef(fit1))
  opt <- optim(start, laplace_dev, method = "BFGS", control = list(reltol = 1e-14, maxit = 1000))
  opt <- optim(opt$par, laplace_dev, method = "BFGS", control = list(reltol = 1e-14, maxit = 1000))
  par <- opt$par
  H <- numDeriv::hessian(laplace_dev, par)
  lme4_dev <- update(fit1, devFunOnly = TRUE)
  list(name = "cbpp_exact_laplace", data = "cbpp.csv", data_path = unname(data_paths["cbpp.csv"]),
       formula = cbpp_formula, family = "binomial", link = "logit", nAGQ = 1,
       par_names = as.list(c("theta", names(fixef(fit1)))),
       par = unname(par),
       theta = par[[1]], fixef = as.list(par[-1]),
       laplace_deviance = opt$value, loglik = -opt$value / 2,
       se = as.list(setNames(sqrt(diag(2 * solve(H)))[-1], names(fixef(fit1)))),
       hessian = unname(H),
       optim_convergence = opt$convergence,
       lme4_deviance_at_par = lme4_dev(unname(par)),
       laplace_deviance_at_lme4_estimates = laplace_dev(unname(start)),
       lme4_deviance_at_lme4_estimates = -2 * as.numeric(logLik(fit1)))
}

## ---- Run ----------------------------------------------------------------------------------

out <- list()
for (cs in cases) {
  cat("fitting", cs$name, "...\n")
  run <- timed_fit(cs$r_call)
  res <- summarise_fit(cs, run)
  if (startsWith(cs$name, "cbpp_nAGQ"))
    res$marginal_loglik_by_integrate <-
      marginal_loglik(getME(run$fit, "theta")[[1]], fixef(run$fit))
  out[[length(out) + 1]] <- res
  if (cs$name == "cbpp_nAGQ1") {
    cat("exact Laplace for cbpp ...\n")
    out[[length(out) + 1]] <- exact_laplace_case(run$fit)
  }
}

writeLines(toJSON(list(lme4_version = as.character(packageVersion("lme4")), cases = out),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("lmm_teach", "data", "lme4_glmer.json"))

for (res in out)
  cat(sprintf("%-20s loglik %.6f  seconds %s\n", res$name, res$loglik,
              if (is.null(res$seconds)) "-" else format(res$seconds)))
