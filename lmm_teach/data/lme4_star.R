# Reference fits for chapter 23's case study (Tennessee STAR, kindergarten), made with lme4
# 1.1-31 and lmerTest 3.1-3 (Debian r-cran-lme4, r-cran-lmertest) by
#   Rscript lmm_teach/data/lme4_star.R      (from the repository root)
# It writes lmm_teach/data/lme4_star.json (shipped with the package: the book and
# tests/test_case_study.py compare with it). R is not needed to build or test; this script is
# kept so that the numbers can be made again.
#
# Data: lmm_teach/data/star.csv (mlmRev's `star`, see PROVENANCE.md), read with read.csv. The
# analysis sample is the chapter's: the kindergarten rows (gr == "K"), then the rows with no
# missing value in math, cltype, sx, ses, eth or exp. Text columns become factors with their
# levels sorted alphabetically, as lmm_teach codes them, so that the reference level of cltype
# is "reg" (a regular class). `minority` is "yes" for every pupil whose eth is not "W"; `small`
# is 1 in a small class, else 0.
#
# Each fit holds its exact call (`r_call`), logLik, the REML criterion or deviance
# (`objective`), fixef, se (sqrt(diag(vcov))), theta, sigma, VarCorr as a data frame, nobs,
# ngrps, isSingular and lme4's convergence messages (`messages`). `covariates` adds lmerTest's
# Satterthwaite table; `covariates_ml` lme4's profile intervals; `anova` lme4's likelihood-ratio
# tables; `predict` predictions for new pupils; `grade1` the model with covariates fitted to
# grade 1, for the problem set of Part VI.
suppressMessages({library(lme4); library(lmerTest); library(jsonlite)})

star <- read.csv(file.path("lmm_teach", "data", "star.csv"), stringsAsFactors = FALSE,
                 colClasses = c(id = "character", sch = "character", tch = "character"))
kinder <- star[star$gr == "K", ]
columns <- c("math", "cltype", "sx", "ses", "eth", "exp")
sample <- kinder[complete.cases(kinder[, columns]), ]
for (col in c("cltype", "sx", "ses", "sch", "tch")) sample[[col]] <- factor(sample[[col]])
sample$minority <- factor(ifelse(sample$eth == "W", "no", "yes"))
sample$small <- as.numeric(sample$cltype == "small")

record <- function(fit, call) {
  messages <- fit@optinfo$conv$lme4$messages
  list(r_call = call, loglik = as.numeric(logLik(fit)), objective = as.numeric(deviance(fit, REML = isREML(fit))),
       reml = isREML(fit), fixef = as.list(fixef(fit)), se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
       theta = unname(getME(fit, "theta")), sigma = sigma(fit),
       varcorr = as.data.frame(VarCorr(fit)), nobs = nobs(fit), ngrps = as.list(ngrps(fit)),
       singular = isSingular(fit), messages = if (is.null(messages)) list() else messages)
}
fit_case <- function(call) {
  fit <- eval(parse(text = call))
  record(fit, call)
}

calls <- list(
  school = "lme4::lmer(math ~ cltype + (1 | sch), data = sample)",
  classes = "lme4::lmer(math ~ cltype + (1 | sch) + (1 | tch), data = sample)",
  small_slope = "lme4::lmer(math ~ cltype + (1 + small | sch) + (1 | tch), data = sample)",
  cltype_slopes = "lme4::lmer(math ~ cltype + (1 + cltype | sch) + (1 | tch), data = sample)",
  school_by_type = "lme4::lmer(math ~ cltype + (1 | sch) + (1 | sch:cltype) + (1 | tch), data = sample)",
  covariates = "lme4::lmer(math ~ cltype + sx + ses + minority + exp + (1 | sch) + (1 | tch), data = sample)",
  covariates_ml = "lme4::lmer(math ~ cltype + sx + ses + minority + exp + (1 | sch) + (1 | tch), data = sample, REML = FALSE)"
)
fits <- lapply(calls, function(call) eval(parse(text = call)))
out <- list(
  sample = list(kindergarten_rows = nrow(kinder), rows = nrow(sample),
                schools = nlevels(sample$sch), classes = nlevels(sample$tch),
                missing_in_kindergarten = as.list(colSums(is.na(kinder[, columns])))),
  fits = Map(record, fits, calls)
)

# lmerTest: Satterthwaite's degrees of freedom for the REML fit with covariates.
satt_call <- "summary(lmerTest::lmer(math ~ cltype + sx + ses + minority + exp + (1 | sch) + (1 | tch), data = sample))$coefficients"
satt <- eval(parse(text = satt_call))
out$satterthwaite <- list(r_call = satt_call, terms = rownames(satt), estimate = satt[, 1],
                          se = satt[, 2], df = satt[, 3], t = satt[, 4], p = satt[, 5])

# Profile intervals (ML fit): the three standard deviations and the small-class effect.
ci_call <- "confint(fits$covariates_ml, parm = c(\"sd_(Intercept)|tch\", \"sd_(Intercept)|sch\", \"sigma\", \"cltypesmall\"), method = \"profile\", oldNames = FALSE)"
ci <- eval(parse(text = ci_call))
out$profile_intervals <- list(r_call = ci_call, parameters = rownames(ci),
                              lower = unname(ci[, 1]), upper = unname(ci[, 2]))

# Likelihood-ratio tables: random structures compared by REML (same fixed effects,
# refit = FALSE); the covariates by ML (anova refits both).
lrt <- function(call) {
  table <- eval(parse(text = call))
  list(r_call = call, chisq = table$Chisq[2], df = table$Df[2], p = table[["Pr(>Chisq)"]][2],
       loglik = table$logLik)
}
out$anova <- list(
  classes = lrt("anova(fits$school, fits$classes, refit = FALSE)"),
  small_slope = lrt("anova(fits$classes, fits$small_slope, refit = FALSE)"),
  school_by_type = lrt("anova(fits$classes, fits$school_by_type, refit = FALSE)"),
  covariates = lrt("anova(fits$classes, fits$covariates)")
)

# Predictions from the REML fit with covariates: a girl, not on free lunch, white, whose teacher
# has 10 years' experience, in each class type, in a new school and class (re.form = NA) and in
# school 9's first class of that type (re.form = NULL).
classes_9 <- unique(sample[sample$sch == "9", c("tch", "cltype")])
classes_9 <- classes_9[order(classes_9$cltype, as.numeric(as.character(classes_9$tch))), ]
first_9 <- classes_9[!duplicated(classes_9$cltype), ]
newdata <- data.frame(cltype = factor(c("reg", "reg+A", "small"), levels = levels(sample$cltype)),
                      sx = "F", ses = "N", minority = "no", exp = 10, sch = "9")
newdata$tch <- as.character(first_9$tch[match(newdata$cltype, first_9$cltype)])
pred_call <- "predict(fits$covariates, newdata, re.form = NA) and predict(fits$covariates, newdata)"
out$predict <- list(r_call = pred_call, newdata = newdata,
                    population = unname(predict(fits$covariates, newdata, re.form = NA)),
                    conditional = unname(predict(fits$covariates, newdata)))

# For the problem set of Part VI (book/problem_sets.md): the same model for grade 1 (rows with
# gr == "1", complete in the same columns), with lmerTest's table; and the likelihood-ratio test
# of class type in kindergarten (2 df; anova refits both by ML).
grade1 <- star[star$gr == "1", ]
grade1 <- grade1[complete.cases(grade1[, columns]), ]
for (col in c("cltype", "sx", "ses", "sch", "tch")) grade1[[col]] <- factor(grade1[[col]])
grade1$minority <- factor(ifelse(grade1$eth == "W", "no", "yes"))
grade1_call <- "lmerTest::lmer(math ~ cltype + sx + ses + minority + exp + (1 | sch) + (1 | tch), data = grade1)"
grade1_fit <- eval(parse(text = grade1_call))
grade1_table <- summary(grade1_fit)$coefficients
out$grade1 <- c(record(grade1_fit, grade1_call),
                list(satterthwaite = list(terms = rownames(grade1_table),
                                          df = grade1_table[, 3], p = grade1_table[, 5])))
no_type_call <- "lme4::lmer(math ~ sx + ses + minority + exp + (1 | sch) + (1 | tch), data = sample)"
fits$no_type <- eval(parse(text = no_type_call))
out$anova$class_type <- c(lrt("anova(fits$no_type, fits$covariates)"), list(null_call = no_type_call))

out$versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                     lmerTest = as.character(packageVersion("lmerTest")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path("lmm_teach", "data", "lme4_star.json"))
cat("wrote lmm_teach/data/lme4_star.json\n")
