# Reference fits for tests/test_formula_lme4.py: lme4's formula language, made with lme4 1.1-31
# (Debian r-cran-lme4) by
#   Rscript tests/reference/lme4_formulas.R      (from the repository root)
# It writes tests/reference/data/*.csv (public data sets from R packages, with the changes noted
# below; see tests/reference/data/PROVENANCE.md) and tests/reference/lme4_formulas.json.
# R fits the CSV files as read back by read.csv, so R and Python see the same data: every factor
# is unordered, with its levels sorted (this script runs in the C.UTF-8 locale, where R sorts
# text as Python does). R is not needed to run the tests.
suppressMessages({library(lme4); library(nlme, warn.conflicts = FALSE); library(jsonlite)})
invisible(Sys.setlocale("LC_COLLATE", "C"))
out_dir <- file.path("tests", "reference", "data")

save_csv <- function(frame, name) {
  path <- file.path(out_dir, paste0(name, ".csv"))
  write.csv(frame, path, row.names = FALSE, na = "")
  read.csv(path, stringsAsFactors = TRUE, check.names = FALSE)
}
plain <- function(frame) { # drop nlme's groupedData class and ordered factors
  frame <- as.data.frame(frame)
  for (j in seq_along(frame)) if (is.factor(frame[[j]])) frame[[j]] <- as.character(frame[[j]])
  frame
}

# lme4::sleepstudy: Reaction renamed Reaction.time (a dotted name); Days is an integer column;
# w are prior weights 1, 2, 3 by day; w2 is w with two missing values (rows 5 and 40).
s <- plain(sleepstudy)
names(s)[names(s) == "Reaction"] <- "Reaction.time"
s$Days <- as.integer(s$Days)
s$w <- 1 + s$Days %% 3
s$w2 <- s$w; s$w2[c(5, 40)] <- NA
sleep <- save_csv(s, "sleepstudy")

# nlme::Orthodont: distance missing in rows 3, 10, 50 and 77; `center` is age - 11 (a column
# that has the name of a function).
o <- plain(Orthodont)
o$distance[c(3, 10, 50, 77)] <- NA
o$center <- o$age - 11
orthodont <- save_csv(o, "orthodont")

# nlme::Machines as it is.
machines <- save_csv(plain(Machines), "machines")

# nlme::Oats: Block renamed C and Variety renamed Treatment (names of formulaic's contrasts);
# N is the nitrogen level as an integer code 0..3 (nitro * 5).
a <- plain(Oats)
names(a)[names(a) == "Block"] <- "C"; names(a)[names(a) == "Variety"] <- "Treatment"
a$N <- as.integer(round(a$nitro * 5))
oats <- save_csv(a, "oats")

# lme4::Arabidopsis as it is (total.fruits: a dotted name; nutrient and rack: integer codes).
arabidopsis <- save_csv(plain(Arabidopsis), "arabidopsis")

# nlme::ergoStool as it is.
ergostool <- save_csv(plain(ergoStool), "ergostool")

# datasets::ChickWeight: Time, Chick and Diet are written as integers.
k <- plain(ChickWeight)
k$Time <- as.integer(k$Time); k$Chick <- as.integer(k$Chick); k$Diet <- as.integer(k$Diet)
chickweight <- save_csv(k, "chickweight")

# nlme::BodyWeight: Diet as an integer; `poly` is Time in weeks (Time / 7) and `log` is
# log(Time): columns with the names of functions.
b <- plain(BodyWeight)
b$Diet <- as.integer(b$Diet); b$poly <- b$Time / 7; b$log <- log(b$Time)
bodyweight <- save_csv(b, "bodyweight")

ck <- plain(cake)[, c("replicate", "recipe", "temperature", "temp", "angle")]
ck$temperature <- as.integer(as.character(ck$temperature))   # the ordered factor's labels 175..225
ck$replicate <- as.integer(as.character(ck$replicate))
cake <- save_csv(ck, "cake")

pg <- plain(palmerpenguins::penguins)[, c("species", "bill_depth_mm", "body_mass_g")]
pg$heavy <- pg$body_mass_g > 4000                            # logical, NA where the mass is
penguins <- save_csv(pg, "penguins")

cases <- list(
  list(name = "sleep_power_doublebar", data = "sleepstudy",
       formula = "Reaction.time ~ Days + I(Days^2) + (Days || Subject)"),
  list(name = "sleep_poly_log_response", data = "sleepstudy",
       formula = "log(Reaction.time) ~ poly(Days, 2) + (1 | Subject)"),
  list(name = "sleep_weights", data = "sleepstudy", weights = "w",
       formula = "Reaction.time ~ Days + (Days | Subject)"),
  list(name = "sleep_weights_missing", data = "sleepstudy", weights = "w2",
       formula = "Reaction.time ~ Days + (1 | Subject)"),
  list(name = "sleep_doublebar_no_intercept", data = "sleepstudy",
       formula = "Reaction.time ~ Days + (0 + Days + I(Days^2/10) || Subject)"),
  list(name = "sleep_arithmetic", data = "sleepstudy",
       formula = "Reaction.time ~ exp(Days/9) + I((Days - 4.5)^2/10) + (1 | Subject)"),
  list(name = "orthodont_scale_na", data = "orthodont",
       formula = "distance ~ scale(age) + Sex + (scale(age) | Subject)"),
  list(name = "orthodont_poly_na", data = "orthodont",
       formula = "distance ~ poly(age, 2) + Sex + (1 | Subject)"),
  list(name = "orthodont_sqrt_center", data = "orthodont",
       formula = "sqrt(distance) ~ center + Sex + (1 | Subject)"),
  list(name = "orthodont_minus_one", data = "orthodont",
       formula = "distance ~ Sex - 1 + age:Sex + (1 | Subject)"),
  list(name = "machines_doublebar_factor", data = "machines",
       formula = "score ~ Machine + (Machine || Worker)"),
  list(name = "oats_factor_of_integer", data = "oats",
       formula = "yield ~ factor(N) + Treatment + (1 | C/Treatment)"),
  list(name = "oats_power_of_sum", data = "oats",
       formula = "yield ~ (nitro + Treatment)^2 + (1 | C) + (1 | C:Treatment)"),
  list(name = "oats_colon", data = "oats",
       formula = "yield ~ nitro + nitro:Treatment + (1 | C)"),
  list(name = "arabidopsis_log1p", data = "arabidopsis",
       formula = "log(1 + total.fruits) ~ factor(nutrient) * amd + factor(rack) + status + (1 | popu) + (1 | gen)"),
  list(name = "ergostool_zero_plus", data = "ergostool",
       formula = "effort ~ 0 + Type + (1 | Subject)"),
  list(name = "chick_log_star", data = "chickweight",
       formula = "log(weight) ~ Time * factor(Diet) + (Time | Chick)"),
  list(name = "bodyweight_poly_column", data = "bodyweight",
       formula = "weight ~ poly * factor(Diet) + (poly | Rat)"),
  list(name = "bodyweight_log_column", data = "bodyweight",
       formula = "sqrt(weight) ~ log + exp(poly/10) + factor(Diet) + (1 | Rat)"),
  list(name = "cake_interaction_without_margins", data = "cake",
       formula = "angle ~ recipe:factor(temperature) + (1 | replicate)"),
  list(name = "cake_poly_by_factor", data = "cake",
       formula = "angle ~ poly(temp, 2) * recipe + (1 | replicate/recipe)"),
  list(name = "penguins_logical_with_na", data = "penguins",
       formula = "bill_depth_mm ~ heavy + (1 | species)")
)
frames <- list(sleepstudy = sleep, orthodont = orthodont, machines = machines, oats = oats,
               arabidopsis = arabidopsis, ergostool = ergostool, chickweight = chickweight,
               bodyweight = bodyweight, cake = cake, penguins = penguins)

one_fit <- function(case, reml) {
  frame <- frames[[case$data]]
  fit <- if (is.null(case$weights)) {
    lmer(as.formula(case$formula), data = frame, REML = reml)
  } else {
    frame$.w <- frame[[case$weights]]
    lmer(as.formula(case$formula), data = frame, REML = reml, weights = .w)
  }
  vc <- as.data.frame(VarCorr(fit))
  vc$var1[is.na(vc$var1)] <- ""; vc$var2[is.na(vc$var2)] <- ""
  list(loglik = as.numeric(logLik(fit)),
       objective = unname(getME(fit, "devcomp")$cmp[if (reml) "REML" else "dev"]),
       fixef = as.list(fixef(fit)), se = as.list(setNames(sqrt(diag(as.matrix(vcov(fit)))), names(fixef(fit)))),
       sigma = sigma(fit), theta = unname(getME(fit, "theta")),
       theta_names = names(getME(fit, "theta")),
       varcorr = vc[, c("grp", "var1", "var2", "vcov", "sdcor")],
       nobs = nobs(fit), ngrps = as.list(ngrps(fit)), singular = isSingular(fit),
       lme4_messages = as.list(as.character(fit@optinfo$conv$lme4$messages)))
}

r_call <- function(case) {
  weights <- if (is.null(case$weights)) "" else sprintf(", weights = %s", case$weights)
  sprintf("lmer(%s, data = %s, REML = <FALSE|TRUE>%s)", case$formula, case$data, weights)
}

out <- lapply(cases, function(case) list(
  name = case$name, data = case$data, formula = case$formula,
  weights = if (is.null(case$weights)) NULL else case$weights, r_call = r_call(case),
  ML = one_fit(case, FALSE), REML = one_fit(case, TRUE)))
writeLines(toJSON(list(lme4_version = as.character(packageVersion("lme4")), cases = out),
                  auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           file.path("tests", "reference", "lme4_formulas.json"))
